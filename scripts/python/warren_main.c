/*
 * warren_main.c: the entry points of warren's python.wasm (a WASI reactor).
 *
 * Written for warren; linked against CPython 3.11's libpython in place of
 * Programs/python.c by scripts/build-python.sh. The host (isolate/internal/pyrun)
 *
 *   1. instantiates the module and calls _initialize (the reactor's C
 *      constructors), then warren_init, which starts the interpreter and
 *      imports the runtime (/warren/_warren_rt.py) and the common stdlib
 *      modules;
 *   2. copies linear memory (the snapshot): warren_init has returned, so the
 *      shadow stack pointer is back at its initial value;
 *   3. for every call, makes a new instance, copies the snapshot in, and
 *      calls warren_run, which runs _warren_rt.run() and returns its exit
 *      status.
 *
 * The built-in module _warren carries the host calls: _warren.call(op, arg)
 * sends op (str) and arg (bytes) to the host function warren.call and
 * returns the host's answer as bytes, or raises OSError when the host
 * refuses.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>

__attribute__((import_module("warren"), import_name("call")))
extern int64_t warren_host_call(const char *op, int32_t op_len, const char *arg, int32_t arg_len);

__attribute__((import_module("warren"), import_name("take")))
extern void warren_host_take(char *dst, int32_t len);

static PyObject *
warren_call(PyObject *self, PyObject *args)
{
    const char *op;
    Py_ssize_t op_len;
    Py_buffer arg;
    if (!PyArg_ParseTuple(args, "s#y*:call", &op, &op_len, &arg)) {
        return NULL;
    }
    if (op_len > INT32_MAX || arg.len > INT32_MAX) {
        PyBuffer_Release(&arg);
        PyErr_SetString(PyExc_ValueError, "host call argument too large");
        return NULL;
    }
    int64_t n = warren_host_call(op, (int32_t)op_len, arg.buf, (int32_t)arg.len);
    PyBuffer_Release(&arg);
    int failed = n < 0;
    if (failed) {
        n = -n - 1; /* the error message's length */
    }
    if (n > INT32_MAX) {
        PyErr_SetString(PyExc_OSError, "host answer too large");
        return NULL;
    }
    PyObject *res = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
    if (res == NULL) {
        /* The host still holds the answer; it drops it on the next call. */
        return NULL;
    }
    warren_host_take(PyBytes_AS_STRING(res), (int32_t)n);
    if (failed) {
        PyObject *msg = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(res), n, "replace");
        Py_DECREF(res);
        if (msg != NULL) {
            PyErr_SetObject(PyExc_OSError, msg);
            Py_DECREF(msg);
        }
        return NULL;
    }
    return res;
}

static PyMethodDef warren_methods[] = {
    {"call", warren_call, METH_VARARGS,
     "call(op: str, arg: bytes) -> bytes: a call to the warren host."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef warren_module = {
    PyModuleDef_HEAD_INIT, "_warren", "Host calls of warren.", -1, warren_methods,
};

static PyObject *
PyInit__warren(void)
{
    return PyModule_Create(&warren_module);
}

static PyObject *run_fn;

/* warren_init starts the interpreter and imports _warren_rt (which imports
 * the common stdlib modules). It returns 0, or 1 after printing why to
 * stderr. */
__attribute__((export_name("warren_init")))
int warren_init(void)
{
    if (PyImport_AppendInittab("_warren", PyInit__warren) < 0) {
        fprintf(stderr, "warren: cannot register _warren\n");
        return 1;
    }
    /* UTF-8 everywhere (stdio, file names), whatever the locale. */
    PyPreConfig pre;
    PyPreConfig_InitIsolatedConfig(&pre);
    pre.utf8_mode = 1;
    PyStatus pst = Py_PreInitialize(&pre);
    if (PyStatus_Exception(pst)) {
        fprintf(stderr, "warren: python pre-initialization failed: %s\n", pst.err_msg ? pst.err_msg : "?");
        return 1;
    }
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.site_import = 0;
    config.write_bytecode = 0;
    config.install_signal_handlers = 0;
    config.pathconfig_warnings = 0;
    config.parse_argv = 0;
    config.safe_path = 1;
    PyStatus st = PyConfig_SetString(&config, &config.program_name, L"python3.11");
    if (!PyStatus_Exception(st)) st = PyConfig_SetString(&config, &config.home, L"/");
    if (!PyStatus_Exception(st)) {
        config.module_search_paths_set = 1;
        st = PyWideStringList_Append(&config.module_search_paths, L"/lib/python3.11");
    }
    if (!PyStatus_Exception(st)) st = PyWideStringList_Append(&config.module_search_paths, L"/warren");
    if (!PyStatus_Exception(st)) st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st)) {
        fprintf(stderr, "warren: python start-up failed: %s\n", st.err_msg ? st.err_msg : "?");
        return 1;
    }
    PyObject *rt = PyImport_ImportModule("_warren_rt");
    if (rt == NULL) {
        PyErr_Print();
        return 1;
    }
    run_fn = PyObject_GetAttrString(rt, "run");
    Py_DECREF(rt);
    if (run_fn == NULL) {
        PyErr_Print();
        return 1;
    }
    return 0;
}

/* warren_run runs one call: _warren_rt.run() returns the exit status. */
__attribute__((export_name("warren_run")))
int warren_run(void)
{
    if (run_fn == NULL) {
        fprintf(stderr, "warren: warren_init did not succeed\n");
        return 70;
    }
    PyObject *r = PyObject_CallNoArgs(run_fn);
    if (r == NULL) {
        PyErr_Print();
        fflush(stdout);
        fflush(stderr);
        return 70;
    }
    long code = PyLong_AsLong(r);
    Py_DECREF(r);
    fflush(stdout);
    fflush(stderr);
    return (int)code;
}
