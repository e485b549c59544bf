/* A C extension that blocks WITHOUT releasing the GIL (no Py_BEGIN_ALLOW_THREADS):
 * sem_wait on a semaphore a C thread posts later, and recv on a socket a C thread
 * writes to later. Used by gil_blocking.py; built by the test with the interpreter's
 * headers. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/socket.h>
#include <unistd.h>

static sem_t sem;

static void *poster(void *arg) {
    usleep((useconds_t)(long)arg * 1000);
    sem_post(&sem);
    return NULL;
}

static PyObject *sem_wait_holding_gil(PyObject *self, PyObject *args) {
    long ms;
    if (!PyArg_ParseTuple(args, "l", &ms)) return NULL;
    sem_init(&sem, 0, 0);
    pthread_t t;
    if (pthread_create(&t, NULL, poster, (void *)ms) != 0) return PyErr_SetFromErrno(PyExc_OSError);
    int r = sem_wait(&sem); /* the GIL stays held */
    pthread_join(t, NULL);
    sem_destroy(&sem);
    return PyLong_FromLong(r);
}

struct sender {
    int fd;
    long ms;
};

static void *send_later(void *arg) {
    struct sender *s = arg;
    usleep((useconds_t)s->ms * 1000);
    (void)!send(s->fd, "pong", 4, 0);
    return NULL;
}

static PyObject *recv_holding_gil(PyObject *self, PyObject *args) {
    long ms;
    if (!PyArg_ParseTuple(args, "l", &ms)) return NULL;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return PyErr_SetFromErrno(PyExc_OSError);
    struct sender s = {sv[1], ms};
    pthread_t t;
    if (pthread_create(&t, NULL, send_later, &s) != 0) return PyErr_SetFromErrno(PyExc_OSError);
    char buf[8] = {0};
    ssize_t n = recv(sv[0], buf, sizeof buf - 1, 0); /* the GIL stays held */
    pthread_join(t, NULL);
    close(sv[0]);
    close(sv[1]);
    return Py_BuildValue("ns", (Py_ssize_t)n, buf);
}

static PyMethodDef methods[] = {
    {"sem_wait_holding_gil", sem_wait_holding_gil, METH_VARARGS, "sem_wait with the GIL held"},
    {"recv_holding_gil", recv_holding_gil, METH_VARARGS, "recv with the GIL held"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "blocking_ext", NULL, -1, methods};

PyMODINIT_FUNC PyInit_blocking_ext(void) { return PyModule_Create(&mod); }
