#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

static void *kept_buffer = NULL;

static char *grab(size_t n) {
    char *p = malloc(n);
    if (p) memset(p, 7, n);
    return p;
}

static PyObject *leak(PyObject *self, PyObject *arg) {
    size_t n = PyLong_AsSize_t(arg);
    if (n == (size_t)-1 && PyErr_Occurred()) return NULL;
    grab(n);  /* never freed: the leak */
    Py_RETURN_NONE;
}

static PyObject *scratch(PyObject *self, PyObject *arg) {
    size_t n = PyLong_AsSize_t(arg);
    if (n == (size_t)-1 && PyErr_Occurred()) return NULL;
    char *p = grab(n);
    free(p);
    Py_RETURN_NONE;
}

static PyObject *reuse(PyObject *self, PyObject *arg) {
    size_t n = PyLong_AsSize_t(arg);
    if (n == (size_t)-1 && PyErr_Occurred()) return NULL;
    if (kept_buffer == NULL) kept_buffer = grab(n);
    else memset(kept_buffer, 9, n);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"leak", leak, METH_O, "malloc n bytes, never freed"},
    {"scratch", scratch, METH_O, "malloc n bytes and free them"},
    {"reuse", reuse, METH_O, "fill one buffer, made on the first call"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "leakext", NULL, -1, methods};

PyMODINIT_FUNC PyInit_leakext(void) { return PyModule_Create(&module); }
