/* The operations of flask_actions.rings on a mapped table, in C: the
 * same file format, the same locks and the same answers as the Python
 * class rings.PyRings, which stays the reference (and is used where this
 * module could not be built). A submission's claim and its outcome take
 * two of these each; in Python they cost more than the rest of the
 * submission keys' work together.
 *
 * A Rings is not safe between threads by itself: an operation may run
 * Python code (converting its arguments, making a Slot), which may let
 * another thread run, so slots.Table holds its process-wide lock around
 * each, as it does around PyRings'. Offsets come from the geometry checked
 * in Rings.__init__ (each ring a power of two slots), and positions are
 * masked into their ring, so that no read or write leaves the mapping
 * whatever the file holds. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#if PY_BIG_ENDIAN
#error "the table's format is little-endian; rings.PyRings serves here"
#endif

/* The layout of rings.py: see its docstring. */
#define PAGE 4096
#define SLOT_SIZE 512
#define BUCKET 16
#define SKIPS 16
#define KEY_SIZE 24
#define OWNER_SIZE 16
#define FINGERPRINT_SIZE 32
#define HEAD_SIZE 96 /* _SLOT.size */
#define INLINE (SLOT_SIZE - HEAD_SIZE)
#define HEADS 128
#define LOCKS ((int64_t)1 << 40)
#define POSITIONS (((uint64_t)1 << 48) - 1)

#define AT_STATE 4
#define AT_FP_SIZE 5
#define AT_SIZE 6
#define AT_EXPIRES 8
#define AT_POSITION 16
#define AT_KEY 24
#define AT_OWNER 48
#define AT_FINGERPRINT 64

enum { FREE = 0, RUNNING = 1, DONE = 2, SPILLED = 3 };

static PyObject *slot_type;   /* rings.Slot */
static PyObject *bucket_full; /* rings.BucketFull */

/* --- CRC-32, as zlib.crc32 ----------------------------------------- */

static uint32_t crc_table[256];

static void
crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) {
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        crc_table[n] = c;
    }
}

static uint32_t
crc32_of(const unsigned char *data, size_t size)
{
    uint32_t c = 0xFFFFFFFFu;
    while (size--) {
        c = crc_table[(c ^ *data++) & 0xFF] ^ (c >> 8);
    }
    return c ^ 0xFFFFFFFFu;
}

/* --- reading and writing little-endian fields ------------------------ */

static inline uint64_t
u64_at(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline double
f64_at(const unsigned char *p)
{
    double v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint16_t
u16_at(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline void
put_u64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

/* --- the object -------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    Py_buffer view;
    int held; /* whether view holds the mapping */
    int fd;
    Py_ssize_t first;
    uint64_t buckets, rings, ring; /* masks */
    int ring_bits;
} Rings;

typedef struct {
    int n;        /* the entry of the key in its bucket, -1: none */
    Py_ssize_t at;
    uint64_t position;
    int found;    /* whether a record matches */
} Found;

static inline unsigned char *
base_of(Rings *self)
{
    return (unsigned char *)self->view.buf;
}

static inline Py_ssize_t
slot_at(Rings *self, uint64_t ring, uint64_t position)
{
    return self->first +
           (Py_ssize_t)(((ring << self->ring_bits) | (position & self->ring)) *
                        SLOT_SIZE);
}

/* Whether the slot at ``at`` holds a whole record (given a key, of that
 * key, written at ``position``): rings._read without building it. */
static int
valid(Rings *self, Py_ssize_t at, const unsigned char *key, uint64_t position)
{
    const unsigned char *slot = base_of(self) + at;
    unsigned state = slot[AT_STATE], fp_size = slot[AT_FP_SIZE];
    unsigned size = u16_at(slot + AT_SIZE);
    uint32_t crc;
    if (state == FREE || state > SPILLED || size > INLINE ||
        fp_size > FINGERPRINT_SIZE) {
        return 0;
    }
    if (key != NULL && (memcmp(slot + AT_KEY, key, KEY_SIZE) != 0 ||
                        (u64_at(slot + AT_POSITION) & POSITIONS) != position)) {
        return 0;
    }
    memcpy(&crc, slot, 4);
    return crc32_of(slot + 4, HEAD_SIZE - 4 + size) == crc;
}

/* The record at ``at`` (valid) as a slots.Slot. */
static PyObject *
slot_of(Rings *self, Py_ssize_t at)
{
    const unsigned char *slot = base_of(self) + at;
    unsigned state = slot[AT_STATE];
    PyObject *outcome;
    if (state == DONE) {
        outcome = PyBytes_FromStringAndSize(
            (const char *)slot + HEAD_SIZE, u16_at(slot + AT_SIZE));
        if (outcome == NULL) {
            return NULL;
        }
    }
    else {
        outcome = Py_NewRef(Py_None);
    }
    return PyObject_CallFunction(
        slot_type, "Idy#y#N", state, f64_at(slot + AT_EXPIRES),
        (const char *)slot + AT_OWNER, (Py_ssize_t)OWNER_SIZE,
        (const char *)slot + AT_FINGERPRINT, (Py_ssize_t)slot[AT_FP_SIZE],
        outcome);
}

static void
write_slot(Rings *self, Py_ssize_t at, int state, uint64_t position,
           const unsigned char *key, const unsigned char *owner,
           const unsigned char *fingerprint, Py_ssize_t fp_size, double expires,
           const unsigned char *outcome, Py_ssize_t size)
{
    unsigned char record[SLOT_SIZE];
    uint16_t size16 = (uint16_t)size;
    uint32_t crc;
    memset(record, 0, HEAD_SIZE);
    record[AT_STATE] = (unsigned char)state;
    record[AT_FP_SIZE] = (unsigned char)fp_size;
    memcpy(record + AT_SIZE, &size16, 2);
    memcpy(record + AT_EXPIRES, &expires, 8);
    put_u64(record + AT_POSITION, position);
    memcpy(record + AT_KEY, key, KEY_SIZE);
    memcpy(record + AT_OWNER, owner, OWNER_SIZE);
    memcpy(record + AT_FINGERPRINT, fingerprint, (size_t)fp_size);
    if (size) {
        memcpy(record + HEAD_SIZE, outcome, (size_t)size);
    }
    crc = crc32_of(record + 4, HEAD_SIZE - 4 + (size_t)size);
    memcpy(record, &crc, 4);
    memcpy(base_of(self) + at, record, HEAD_SIZE + (size_t)size);
}

static inline unsigned char *
bucket_of(Rings *self, uint64_t bucket)
{
    return base_of(self) + PAGE + bucket * BUCKET * 8;
}

/* rings.PyRings._find */
static Found
find(Rings *self, uint64_t bucket, const unsigned char *key)
{
    Found found = {-1, -1, 0, 0};
    const unsigned char *entries = bucket_of(self, bucket);
    uint16_t tag = u16_at(key + KEY_SIZE - 2);
    uint64_t ring = bucket & self->rings;
    for (int n = 0; n < BUCKET; n++) {
        uint64_t entry = u64_at(entries + n * 8);
        uint64_t position = entry >> 16;
        if ((entry & 0xFFFF) != tag || position <= found.position) {
            continue;
        }
        Py_ssize_t at = slot_at(self, ring, position);
        if (valid(self, at, key, position)) {
            found.n = n;
            found.at = at;
            found.position = position;
            found.found = 1;
        }
    }
    return found;
}

/* rings.PyRings._next: the position of the slot a new claim of ``ring``
 * takes, 0 (BucketFull set) when there is none. */
static uint64_t
next_position(Rings *self, uint64_t ring, double now, Py_ssize_t *at_out)
{
    uint64_t last = u64_at(base_of(self) + HEADS + ring * 8) & POSITIONS;
    if (last > POSITIONS - SKIPS) {
        last = 0;
    }
    for (uint64_t position = last + 1; position < last + 1 + SKIPS; position++) {
        Py_ssize_t at = slot_at(self, ring, position);
        const unsigned char *slot = base_of(self) + at;
        if (slot[AT_STATE] != RUNNING || f64_at(slot + AT_EXPIRES) <= now ||
            !valid(self, at, NULL, 0)) {
            *at_out = at;
            return position;
        }
    }
    PyErr_Format(bucket_full,
                 "the next %d slots of a ring hold claims of running actions"
                 " (raise ACTIONS_IDEMPOTENCY_MAX_ENTRIES)",
                 SKIPS);
    return 0;
}

/* rings.PyRings._status: whether the record ``entry`` names lives (its
 * state and expiry in *state, *expires). */
static int
status(Rings *self, uint64_t bucket, uint64_t entry, Py_ssize_t taken,
       double now, int *state, double *expires)
{
    uint64_t position = entry >> 16;
    Py_ssize_t at = slot_at(self, bucket & self->rings, position);
    const unsigned char *slot;
    if (!position || at == taken) {
        return 0;
    }
    slot = base_of(self) + at;
    *state = slot[AT_STATE];
    *expires = f64_at(slot + AT_EXPIRES);
    if ((u64_at(slot + AT_POSITION) & POSITIONS) != position ||
        u16_at(slot + AT_KEY + KEY_SIZE - 2) != (entry & 0xFFFF) ||
        (u64_at(slot + AT_KEY) & self->buckets) != bucket || *state == FREE ||
        *state > SPILLED || *expires <= now ||
        (*state == RUNNING && !valid(self, at, NULL, 0))) {
        return 0;
    }
    return 1;
}

/* rings.PyRings._free: the entry of ``bucket`` a new key takes, -1
 * (BucketFull set) when every one names a running claim. */
static int
free_entry(Rings *self, uint64_t bucket, Py_ssize_t taken, double now)
{
    const unsigned char *entries = bucket_of(self, bucket);
    int oldest = 0, victim = -1, state;
    double expires, soonest = Py_HUGE_VAL;
    for (int n = 1; n < BUCKET; n++) {
        if (u64_at(entries + n * 8) < u64_at(entries + oldest * 8)) {
            oldest = n;
        }
    }
    if (!status(self, bucket, u64_at(entries + oldest * 8), taken, now, &state,
                &expires)) {
        return oldest;
    }
    for (int n = 0; n < BUCKET; n++) {
        if (!status(self, bucket, u64_at(entries + n * 8), taken, now, &state,
                    &expires)) {
            return n;
        }
        if (state != RUNNING && expires < soonest) {
            victim = n;
            soonest = expires;
        }
    }
    if (victim >= 0) {
        return victim;
    }
    PyErr_Format(bucket_full,
                 "all %d entries of a bucket of the index name claims of"
                 " running actions (raise ACTIONS_IDEMPOTENCY_MAX_ENTRIES)",
                 BUCKET);
    return -1;
}

/* --- locks ------------------------------------------------------------ */

/* Take (F_WRLCK) or drop (F_UNLCK) the ring's lock without waiting:
 * 0, or -1 with errno set (EAGAIN or EACCES: another process holds it). */
static int
lock_ring(Rings *self, uint64_t ring, short type)
{
    struct flock lock;
    memset(&lock, 0, sizeof lock);
    lock.l_type = type;
    lock.l_whence = SEEK_SET;
    lock.l_start = (off_t)(LOCKS + 1 + (int64_t)ring);
    lock.l_len = 1;
    return fcntl(self->fd, F_SETLK, &lock);
}

/* Enter the ring of ``key``: its bucket, or -1 with an exception set (an
 * OSError from the lock: BlockingIOError or PermissionError when another
 * process holds it, as fcntl.lockf raises). */
static int64_t
enter(Rings *self, const unsigned char *key)
{
    uint64_t bucket;
    if (!self->held) {
        PyErr_SetString(PyExc_ValueError, "the table is closed");
        return -1;
    }
    bucket = u64_at(key) & self->buckets;
    if (lock_ring(self, bucket & self->rings, F_WRLCK) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return (int64_t)bucket;
}

/* Leave the ring of ``bucket``, then answer ``result`` (NULL: the
 * operation's error), or NULL when the lock could not be dropped. */
static PyObject *
leave(Rings *self, uint64_t bucket, PyObject *result)
{
    if (lock_ring(self, bucket & self->rings, F_UNLCK) < 0 && result != NULL) {
        Py_DECREF(result);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return result;
}

static int
sized(Py_buffer *value, Py_ssize_t size, const char *what)
{
    if (value->len != size) {
        PyErr_Format(PyExc_ValueError, "%s must have %zd bytes", what, size);
        return 0;
    }
    return 1;
}

/* --- operations --------------------------------------------------------- */

static PyObject *
Rings_claim(Rings *self, PyObject *args)
{
    Py_buffer key, fingerprint, owner;
    double expires, now;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*y*dd", &key, &fingerprint, &owner,
                          &expires, &now)) {
        return NULL;
    }
    if (sized(&key, KEY_SIZE, "a key") && sized(&owner, OWNER_SIZE, "an owner")) {
        if (fingerprint.len > FINGERPRINT_SIZE) {
            PyErr_SetString(PyExc_ValueError,
                            "a fingerprint or an outcome too large for a slot");
        }
        else {
            const unsigned char *k = key.buf;
            int64_t bucket = enter(self, k);
            if (bucket >= 0) {
                uint64_t ring = (uint64_t)bucket & self->rings, position;
                Py_ssize_t at = -1;
                Found found = find(self, (uint64_t)bucket, k);
                int n = found.n;
                if (found.found &&
                    f64_at(base_of(self) + found.at + AT_EXPIRES) > now) {
                    result = slot_of(self, found.at);
                }
                else if ((position = next_position(self, ring, now, &at)) &&
                         (n >= 0 ||
                          (n = free_entry(self, (uint64_t)bucket, at, now)) >= 0)) {
                    uint64_t entry = position << 16 | u16_at(k + KEY_SIZE - 2);
                    write_slot(self, at, RUNNING, position, k, owner.buf,
                               fingerprint.buf, fingerprint.len, expires, NULL, 0);
                    put_u64(bucket_of(self, (uint64_t)bucket) + n * 8, entry);
                    put_u64(base_of(self) + HEADS + ring * 8, position);
                    result = Py_NewRef(Py_None);
                }
                result = leave(self, (uint64_t)bucket, result);
            }
        }
    }
    PyBuffer_Release(&key);
    PyBuffer_Release(&fingerprint);
    PyBuffer_Release(&owner);
    return result;
}

/* The slot of the live record of ``key`` if ``owner`` holds it, else NULL. */
static unsigned char *
owned(Rings *self, uint64_t bucket, const unsigned char *key,
      const unsigned char *owner, Found *found)
{
    unsigned char *slot;
    *found = find(self, bucket, key);
    if (!found->found) {
        return NULL;
    }
    slot = base_of(self) + found->at;
    return memcmp(slot + AT_OWNER, owner, OWNER_SIZE) == 0 ? slot : NULL;
}

static PyObject *
Rings_finish(Rings *self, PyObject *args)
{
    Py_buffer key, owner;
    PyObject *outcome;
    double expires;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*Od", &key, &owner, &outcome, &expires)) {
        return NULL;
    }
    if (!sized(&key, KEY_SIZE, "a key") || !sized(&owner, OWNER_SIZE, "an owner")) {
        /* the error is set */
    }
    else if (outcome != Py_None && !PyBytes_Check(outcome)) {
        PyErr_SetString(PyExc_TypeError, "an outcome is bytes or None");
    }
    else if (outcome != Py_None && PyBytes_GET_SIZE(outcome) > INLINE) {
        PyErr_SetString(PyExc_ValueError,
                        "a fingerprint or an outcome too large for a slot");
    }
    else {
        const unsigned char *k = key.buf;
        int64_t bucket = enter(self, k);
        if (bucket >= 0) {
            Found found;
            const unsigned char *slot =
                owned(self, (uint64_t)bucket, k, owner.buf, &found);
            if (slot == NULL) {
                result = Py_NewRef(Py_False);
            }
            else {
                unsigned char fingerprint[FINGERPRINT_SIZE];
                Py_ssize_t fp_size = slot[AT_FP_SIZE];
                int spilled = outcome == Py_None;
                memcpy(fingerprint, slot + AT_FINGERPRINT, (size_t)fp_size);
                write_slot(self, found.at, spilled ? SPILLED : DONE,
                           found.position, k, owner.buf, fingerprint, fp_size,
                           expires,
                           spilled ? NULL
                                   : (const unsigned char *)PyBytes_AS_STRING(outcome),
                           spilled ? 0 : PyBytes_GET_SIZE(outcome));
                result = Py_NewRef(Py_True);
            }
            result = leave(self, (uint64_t)bucket, result);
        }
    }
    PyBuffer_Release(&key);
    PyBuffer_Release(&owner);
    return result;
}

static PyObject *
Rings_release(Rings *self, PyObject *args)
{
    Py_buffer key, owner;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*", &key, &owner)) {
        return NULL;
    }
    if (sized(&key, KEY_SIZE, "a key") && sized(&owner, OWNER_SIZE, "an owner")) {
        const unsigned char *k = key.buf;
        int64_t bucket = enter(self, k);
        if (bucket >= 0) {
            Found found;
            unsigned char *slot =
                owned(self, (uint64_t)bucket, k, owner.buf, &found);
            if (slot == NULL) {
                result = Py_NewRef(Py_False);
            }
            else {
                memset(slot, 0, HEAD_SIZE);
                result = Py_NewRef(Py_True);
            }
            result = leave(self, (uint64_t)bucket, result);
        }
    }
    PyBuffer_Release(&key);
    PyBuffer_Release(&owner);
    return result;
}

static PyObject *
Rings_lookup(Rings *self, PyObject *args)
{
    Py_buffer key;
    double now;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*d", &key, &now)) {
        return NULL;
    }
    if (sized(&key, KEY_SIZE, "a key")) {
        const unsigned char *k = key.buf;
        int64_t bucket = enter(self, k);
        if (bucket >= 0) {
            Found found = find(self, (uint64_t)bucket, k);
            if (found.found &&
                f64_at(base_of(self) + found.at + AT_EXPIRES) > now) {
                result = slot_of(self, found.at);
            }
            else {
                result = Py_NewRef(Py_None);
            }
            result = leave(self, (uint64_t)bucket, result);
        }
    }
    PyBuffer_Release(&key);
    return result;
}

static PyObject *
Rings_close(Rings *self, PyObject *Py_UNUSED(ignored))
{
    if (self->held) {
        self->held = 0;
        PyBuffer_Release(&self->view);
    }
    Py_RETURN_NONE;
}

static int
Rings_init(Rings *self, PyObject *args, PyObject *kwds)
{
    static char *names[] = {"mapping", "fd", "first", "buckets", "rings",
                            "ring", "ring_bits", NULL};
    PyObject *mapping;
    unsigned long long buckets, rings, ring;
    Py_ssize_t first;
    int fd, ring_bits;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OinKKKi", names, &mapping, &fd,
                                     &first, &buckets, &rings, &ring, &ring_bits)) {
        return -1;
    }
    /* The rings' masks are one less than powers of two, and
     * every slot, entry and head lies inside the mapping. */
    if (fd < 0 || ring_bits < 0 || ring_bits > 40 ||
        ring + 1 != (uint64_t)1 << ring_bits ||
        rings > 255 || (rings & (rings + 1)) ||
        buckets > ((uint64_t)1 << 40) || first < 0 ||
        HEADS + (rings + 1) * 8 > PAGE ||
        PAGE + (buckets + 1) * BUCKET * 8 > (uint64_t)first) {
        PyErr_SetString(PyExc_ValueError, "not the geometry of a table");
        return -1;
    }
    Rings_close(self, NULL);
    if (PyObject_GetBuffer(mapping, &self->view, PyBUF_WRITABLE) < 0) {
        return -1;
    }
    self->held = 1;
    if ((uint64_t)first + (rings + 1) * (ring + 1) * SLOT_SIZE >
        (uint64_t)self->view.len) {
        Rings_close(self, NULL);
        PyErr_SetString(PyExc_ValueError, "the mapping is smaller than the table");
        return -1;
    }
    self->fd = fd;
    self->first = first;
    self->buckets = buckets;
    self->rings = rings;
    self->ring = ring;
    self->ring_bits = ring_bits;
    return 0;
}

static void
Rings_dealloc(Rings *self)
{
    Rings_close(self, NULL);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Rings_methods[] = {
    {"claim", (PyCFunction)Rings_claim, METH_VARARGS, NULL},
    {"finish", (PyCFunction)Rings_finish, METH_VARARGS, NULL},
    {"release", (PyCFunction)Rings_release, METH_VARARGS, NULL},
    {"lookup", (PyCFunction)Rings_lookup, METH_VARARGS, NULL},
    {"close", (PyCFunction)Rings_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RingsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "flask_actions._slots.Rings",
    .tp_doc = PyDoc_STR("The rings of a mapped table (rings.PyRings in C)."),
    .tp_basicsize = sizeof(Rings),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Rings_init,
    .tp_dealloc = (destructor)Rings_dealloc,
    .tp_methods = Rings_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "flask_actions._slots",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__slots(void)
{
    PyObject *m;
    crc_init();
    /* What the operations answer and raise, from the Python reference. */
    PyObject *rings = PyImport_ImportModule("flask_actions.rings");
    if (rings == NULL) {
        return NULL;
    }
    Py_XSETREF(slot_type, PyObject_GetAttrString(rings, "Slot"));
    Py_XSETREF(bucket_full, PyObject_GetAttrString(rings, "BucketFull"));
    Py_DECREF(rings);
    if (slot_type == NULL || bucket_full == NULL) {
        return NULL;
    }
    if (PyType_Ready(&RingsType) < 0) {
        return NULL;
    }
    m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "Rings", (PyObject *)&RingsType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
