/*
 * The Lloyd pass of segmentkit's k-means, compiled: for each row of a block its nearest
 * centre (and the squared distances to the nearest and second nearest), and for the block
 * each centre's sum and count of rows. One pass reads each row once from memory, a tile of
 * rows at a time: the distances as |x|^2 - 2 x.c + |c|^2 (a multiply-add per row, centre and
 * feature, as scikit-learn's k-means computes them with a product), about the
 * centres' mean (as scikit-learn centres the data), so that rows far from 0 keep their
 * distances' digits.
 *
 * The same input gives the same bits with any number of threads, and on every CPU with
 * fused multiply-add (x86-64 from 2013, AVX2 and FMA, or AVX-512):
 * - the vectors are GCC's generic vectors of 8 doubles, one lane per row: each row's
 *   arithmetic is the same whatever width the CPU's vector unit has;
 * - on those CPUs a product is added with one rounding (fma), in a copy of the tile pass
 *   compiled for AVX2 + FMA and one for AVX-512; elsewhere (older x86-64, or another
 *   compiler than GCC) a copy that rounds the product first, because C's fma() without the
 *   instruction is a slow library call: there the last bits differ. The build turns off
 *   any other fusing (-ffp-contract=off in setup.py);
 * - a block's sums add its rows in order (even and odd rows apart, then the two added);
 *   the caller fixes the blocks and adds their sums in block order.
 *
 * Python: segmentkit.algorithms._lloyd_kernel.block_pass (used by _lloyd.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Rows per tile: the tile's columns (d x TILE doubles) stay in the core's cache while the
 * centres are compared with them and its rows are added to their centres' sums. */
#define TILE 256
/* Rows per vector, and centres compared with a vector of rows at a time (each with its own
 * register: eight independent chains of fused multiply-adds). */
#define V 8
#define CENTRES 8

typedef double v8d __attribute__((vector_size(64)));
typedef int64_t v8l __attribute__((vector_size(64)));

#ifndef FUSED_COPIES /* -DFUSED_COPIES=0 builds the plain copy alone (the tests compare the two) */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define FUSED_COPIES 1 /* tile_pass_v3, tile_pass_v4 below, chosen by the CPU at each call */
#else
#define FUSED_COPIES 0
#endif
#endif

#define INLINE static inline __attribute__((always_inline))

INLINE v8d
splat(double v)
{
    return (v8d){v, v, v, v, v, v, v, v};
}

/* a * b + c with one rounding, lane by lane: one instruction in the copies compiled for
 * CPUs with fused multiply-add (and only used there) */
INLINE v8d
fma8(v8d a, v8d b, v8d c)
{
    v8d out;
    for (int l = 0; l < V; l++)
        out[l] = __builtin_fma(a[l], b[l], c[l]);
    return out;
}

/* a * b + c: fused in the copies for CPUs with fused multiply-add, rounded twice elsewhere */
#define MULADD(a, b, c) (fused ? fma8((a), (b), (c)) : (a) * (b) + (c))

INLINE v8d
load8(const double *p)
{
    v8d x;
    memcpy(&x, p, sizeof x);
    return x;
}

/* 8 x 8 transpose: c[j] holds column j of 8 rows (lane = row); on return c[r] holds row r
 * (lane = column). Data movement only. */
INLINE void
transpose8(v8d c[V])
{
    v8d a[V], b[V];
    for (int i = 0; i < V; i += 2) { /* pairs of rows within 2 x 2 blocks */
        a[i] = __builtin_shuffle(c[i], c[i + 1], (v8l){0, 8, 2, 10, 4, 12, 6, 14});
        a[i + 1] = __builtin_shuffle(c[i], c[i + 1], (v8l){1, 9, 3, 11, 5, 13, 7, 15});
    }
    for (int i = 0; i < V; i += 4)
        for (int h = 0; h < 2; h++) { /* 2 x 2 blocks within 4 x 4 */
            b[i + h] = __builtin_shuffle(a[i + h], a[i + h + 2], (v8l){0, 1, 8, 9, 4, 5, 12, 13});
            b[i + h + 2] = __builtin_shuffle(a[i + h], a[i + h + 2], (v8l){2, 3, 10, 11, 6, 7, 14, 15});
        }
    for (int h = 0; h < 4; h++) { /* 4 x 4 blocks within 8 x 8 */
        c[h] = __builtin_shuffle(b[h], b[h + 4], (v8l){0, 1, 2, 3, 8, 9, 10, 11});
        c[h + 4] = __builtin_shuffle(b[h], b[h + 4], (v8l){4, 5, 6, 7, 12, 13, 14, 15});
    }
}

/*
 * One tile of m rows, column-major: element (r, j) at t[j * ld + r]; rows [m, mp) (mp = m
 * rounded up to 8) are padding, read but neither reported nor summed. cc[c] is centre c's
 * squared norm; dp = d rounded up to 8; sums2 and counts2 hold two sums (even rows, odd
 * rows) of k x dp and k; labels (int32), d1 and d2 get the tile's m rows; d1, d2 may be NULL.
 * fused: add each product with one rounding (a constant in each copy of it, below).
 */
INLINE void
tile_pass(const int fused, const double *t, Py_ssize_t ld, Py_ssize_t m, Py_ssize_t d, const double *centres,
          const double *cc, const double *shift, Py_ssize_t k, int32_t *labels, double *d1, double *d2,
          double *sums2, int64_t *counts2, v8d *spread)
{
    const Py_ssize_t mp = (m + V - 1) / V * V, dp = (d + V - 1) / V * V;
    const v8l lane = {0, 1, 2, 3, 4, 5, 6, 7};
    Py_ssize_t r, j, c;
    for (r = 0; r < mp; r += V) {
        v8d n2 = splat(0.0), best1 = splat(INFINITY), best2 = splat(INFINITY);
        v8l who = {0};
        /* |x|^2 - 2 x.c + |c|^2 for up to CENTRES centres at a time; the nearest two kept */
        for (c = 0; c < k; c += CENTRES) {
            const Py_ssize_t nc = k - c < CENTRES ? k - c : CENTRES;
            /* eight named accumulators (an array of them stays in memory); past k: centre c
             * again, computed and not used */
            const double *p0 = centres + c * d, *p1 = centres + (c + (nc > 1)) * d,
                         *p2 = centres + (c + 2 * (nc > 2)) * d, *p3 = centres + (c + 3 * (nc > 3)) * d,
                         *p4 = centres + (c + 4 * (nc > 4)) * d, *p5 = centres + (c + 5 * (nc > 5)) * d,
                         *p6 = centres + (c + 6 * (nc > 6)) * d, *p7 = centres + (c + 7 * (nc > 7)) * d;
            v8d a0 = splat(0.0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
            for (j = 0; j < d; j++) {
                const v8d x = load8(t + j * ld + r) - shift[j];
                if (c == 0)
                    n2 = MULADD(x, x, n2);
                a0 = MULADD(x, splat(p0[j]), a0);
                a1 = MULADD(x, splat(p1[j]), a1);
                a2 = MULADD(x, splat(p2[j]), a2);
                a3 = MULADD(x, splat(p3[j]), a3);
                a4 = MULADD(x, splat(p4[j]), a4);
                a5 = MULADD(x, splat(p5[j]), a5);
                a6 = MULADD(x, splat(p6[j]), a6);
                a7 = MULADD(x, splat(p7[j]), a7);
            }
            const v8d a[CENTRES] = {a0, a1, a2, a3, a4, a5, a6, a7};
            for (int i = 0; i < nc; i++) {
                v8d dd = (n2 - 2.0 * a[i]) + cc[c + i];
                dd = (v8d)((v8l)dd & ~(dd < 0.0)); /* rounding can take a row on its centre below 0 (NaN stays) */
                if (c + i == 0) /* the tile's real rows' distances to centre 0, lane by lane */
                    *spread += (v8d)((v8l)dd & (lane < m - r));
                const v8l closer = dd < best1; /* strictly: the first of equal centres wins */
                const v8l second = dd < best2;
                best2 = (v8d)((closer & (v8l)best1) | (~closer & ((second & (v8l)dd) | (~second & (v8l)best2))));
                best1 = (v8d)((closer & (v8l)dd) | (~closer & (v8l)best1));
                who = (closer & (c + i)) | (~closer & who);
            }
        }
        const Py_ssize_t mr = m - r < V ? m - r : V;
        for (int l = 0; l < mr; l++) {
            labels[r + l] = (int32_t)who[l];
            if (d1 != NULL)
                d1[r + l] = best1[l];
            if (d2 != NULL)
                d2[r + l] = best2[l];
        }
        /* each row added to its centre's sum, 8 columns at a time (rows from columns by an
         * 8 x 8 transpose); even rows into the first sums, odd rows into the second */
        for (j = 0; j < dp; j += V) {
            v8d blk[V];
            for (int q = 0; q < V; q++)
                blk[q] = j + q < d ? load8(t + (j + q) * ld + r) : splat(0.0);
            transpose8(blk);
            for (int l = 0; l < mr; l++) {
                double *s = sums2 + ((l & 1) * k + who[l]) * dp + j;
                v8d acc = load8(s);
                acc += blk[l];
                memcpy(s, &acc, sizeof acc);
            }
        }
        for (int l = 0; l < mr; l++)
            counts2[(l & 1) * k + who[l]]++;
    }
}

#define TILE_ARGS const double *t, Py_ssize_t ld, Py_ssize_t m, Py_ssize_t d, const double *centres, \
    const double *cc, const double *shift, Py_ssize_t k, int32_t *labels, double *d1, double *d2, \
    double *sums2, int64_t *counts2, v8d *spread
#define TILE_CALL t, ld, m, d, centres, cc, shift, k, labels, d1, d2, sums2, counts2, spread
typedef void (*tile_fn)(TILE_ARGS);

/* The copies of the tile pass: each compiles tile_pass for its instruction set */
static void tile_pass_plain(TILE_ARGS) { tile_pass(0, TILE_CALL); }
#if FUSED_COPIES
__attribute__((target("arch=x86-64-v3"))) static void tile_pass_v3(TILE_ARGS) { tile_pass(1, TILE_CALL); }
__attribute__((target("arch=x86-64-v4"))) static void tile_pass_v4(TILE_ARGS) { tile_pass(1, TILE_CALL); }
#endif

/* the copy for this CPU: AVX-512, AVX2 with fused multiply-add, or the plain one */
static tile_fn
tile_pass_here(void)
{
#if FUSED_COPIES
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4"))
        return tile_pass_v4;
    if (__builtin_cpu_supports("x86-64-v3"))
        return tile_pass_v3;
#endif
    return tile_pass_plain;
}

/* Rows [start, stop) of X (n x d, strides in doubles). Returns 0, or -1 when out of memory. */
static int
block_pass(const double *X, Py_ssize_t row_stride, Py_ssize_t col_stride, Py_ssize_t start,
           Py_ssize_t stop, Py_ssize_t d, const double *centres, Py_ssize_t k, int32_t *labels,
           double *d1, double *d2, double *sums, int64_t *counts, double *spread)
{
    v8d lanes = splat(0.0);
    const tile_fn pass = tile_pass_here();
    const Py_ssize_t dp = (d + V - 1) / V * V;
    double *tile = malloc(sizeof(double) * (size_t)(d * TILE));
    double *cc = malloc(sizeof(double) * (size_t)k);
    double *shift = calloc((size_t)d, sizeof(double));
    double *moved = malloc(sizeof(double) * (size_t)(k * d));
    double *sums2 = calloc((size_t)(2 * k * dp), sizeof(double));
    int64_t *counts2 = calloc((size_t)(2 * k), sizeof(int64_t));
    Py_ssize_t r0, r, j, c;
    int rc = -1;
    if (!tile || !cc || !shift || !moved || !sums2 || !counts2)
        goto done;
    /* distances about the centres' mean: |x|^2 - 2 x.c + |c|^2 loses a distance's digits to
     * rounding when the rows are far from 0 compared with their spread, and the centres'
     * mean is among the rows */
    for (c = 0; c < k; c++)
        for (j = 0; j < d; j++)
            shift[j] += centres[c * d + j];
    for (j = 0; j < d; j++)
        shift[j] /= (double)k;
    for (c = 0; c < k; c++) {
        double s = 0.0;
        for (j = 0; j < d; j++) {
            moved[c * d + j] = centres[c * d + j] - shift[j];
            s += moved[c * d + j] * moved[c * d + j];
        }
        cc[c] = s;
    }
    for (r0 = start; r0 < stop; r0 += TILE) {
        const Py_ssize_t m = stop - r0 < TILE ? stop - r0 : TILE;
        const double *t;
        Py_ssize_t ld;
        if (row_stride == 1 && m % V == 0) { /* column-major (Fortran order): the columns are the tile */
            t = X + r0;
            ld = col_stride;
        } else { /* copy the tile's columns out (zeros after its last row, to a multiple of 8) */
            for (j = 0; j < d; j++) {
                for (r = 0; r < m; r++)
                    tile[j * TILE + r] = X[(r0 + r) * row_stride + j * col_stride];
                for (; r < TILE; r++)
                    tile[j * TILE + r] = 0.0;
            }
            t = tile;
            ld = TILE;
        }
        pass(t, ld, m, d, moved, cc, shift, k, labels + (r0 - start), d1 ? d1 + (r0 - start) : NULL,
                  d2 ? d2 + (r0 - start) : NULL, sums2, counts2, &lanes);
    }
    for (c = 0; c < k; c++) {
        for (j = 0; j < d; j++)
            sums[c * d + j] = sums2[c * dp + j] + sums2[(k + c) * dp + j];
        counts[c] = counts2[c] + counts2[k + c];
    }
    *spread = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    rc = 0;
done:
    free(tile);
    free(cc);
    free(shift);
    free(moved);
    free(sums2);
    free(counts2);
    return rc;
}

static int
get(PyObject *obj, Py_buffer *view, int writable)
{
    return PyObject_GetBuffer(obj, view, PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0));
}

static int
is_format(const Py_buffer *v, Py_ssize_t itemsize, const char *formats)
{
    return v->itemsize == itemsize && strlen(v->format) == 1 && strchr(formats, v->format[0]) != NULL;
}

/* a C-contiguous buffer of count items of one of formats */
static int
is_array(const Py_buffer *v, Py_ssize_t count, Py_ssize_t itemsize, const char *formats)
{
    return is_format(v, itemsize, formats) && v->len == count * itemsize && PyBuffer_IsContiguous(v, 'C');
}

PyDoc_STRVAR(block_pass_doc,
"block_pass(X, centres, start, stop, labels, d1, d2, sums, counts)\n\n"
"Rows [start, stop) of X (float64, 2-D, any strides). labels (int32, stop - start): each\n"
"row's nearest centre (the first of equals); d1, d2 (float64, stop - start, or None): its\n"
"squared distances to the nearest and second nearest; sums (float64, k x d, C order) and\n"
"counts (int64, k): the block's sum and number of rows per nearest centre. centres:\n"
"float64, k x d, C order. Returns the sum of the rows' squared distances to centre 0.\n"
"The GIL is released while it runs.");

static PyObject *
py_block_pass(PyObject *self, PyObject *args)
{
    PyObject *obj[7];
    Py_ssize_t start, stop;
    Py_buffer v[7];
    int held[7] = {0};
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOnnOOOOO", &obj[0], &obj[1], &start, &stop, &obj[2], &obj[3], &obj[4],
                          &obj[5], &obj[6]))
        return NULL;
    for (int i = 0; i < 7; i++) {
        if (obj[i] == Py_None && (i == 3 || i == 4))
            continue;
        if (get(obj[i], &v[i], i >= 2) < 0)
            goto done;
        held[i] = 1;
    }
    {
        const Py_buffer *x = &v[0], *c = &v[1];
        const int shapes = x->ndim == 2 && c->ndim == 2 && c->shape[1] == x->shape[1];
        const Py_ssize_t n = shapes ? x->shape[0] : 0, d = shapes ? x->shape[1] : 0, k = shapes ? c->shape[0] : 0;
        const Py_ssize_t rows = stop - start;
        double spread = 0.0;
        int rc;
        if (!shapes || d < 1 || k < 1 || k > INT32_MAX || !is_format(x, 8, "d") || x->strides[0] % 8 ||
            x->strides[1] % 8 || !is_array(c, k * d, 8, "d") || start < 0 || stop > n || start > stop ||
            !is_array(&v[2], rows, 4, "il") || (held[3] && !is_array(&v[3], rows, 8, "d")) ||
            (held[4] && !is_array(&v[4], rows, 8, "d")) || !is_array(&v[5], k * d, 8, "d") ||
            !is_array(&v[6], k, 8, "lq")) {
            PyErr_SetString(PyExc_ValueError, "block_pass: an array of the wrong type, shape or layout");
            goto done;
        }
        Py_BEGIN_ALLOW_THREADS
        rc = block_pass((const double *)x->buf, x->strides[0] / 8, x->strides[1] / 8, start, stop, d,
                        (const double *)c->buf, k, (int32_t *)v[2].buf, held[3] ? (double *)v[3].buf : NULL,
                        held[4] ? (double *)v[4].buf : NULL, (double *)v[5].buf, (int64_t *)v[6].buf, &spread);
        Py_END_ALLOW_THREADS
        if (rc < 0) {
            PyErr_NoMemory();
            goto done;
        }
        result = PyFloat_FromDouble(spread);
    }
done:
    for (int i = 0; i < 7; i++)
        if (held[i])
            PyBuffer_Release(&v[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"block_pass", py_block_pass, METH_VARARGS, block_pass_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_lloyd_kernel", "The compiled Lloyd pass of segmentkit's k-means (see _lloyd.py).", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__lloyd_kernel(void)
{
    return PyModule_Create(&module);
}
