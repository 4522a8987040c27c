// sort.c: a C program for the "C compiled to wasm, called from JS" test
// (isolate/cwasm_test.go) and bench row (bench/jswasm.go). It fills an
// array with n pseudo-random int32s from a linear congruential generator,
// sorts it (quicksort, insertion sort for short runs) and returns a
// checksum of the sorted array, the same in its native build (main) and
// in its wasm build (the export sort_checksum).
//
// wasm: clang-16 --target=wasm32 -O2 -nostdlib -Wl,--no-entry -o sort.wasm sort.c
// native: cc -O2 -o sort sort.c && ./sort 10000 42
#define MAXN (1 << 20)

#ifdef __wasm__
#define EXPORT(name) __attribute__((export_name(name)))
#else
#define EXPORT(name)
#endif

static int a[MAXN];

static void isort(int *v, int n) {
	for (int i = 1; i < n; i++) {
		int x = v[i], j = i - 1;
		while (j >= 0 && v[j] > x) {
			v[j + 1] = v[j];
			j--;
		}
		v[j + 1] = x;
	}
}

static void qsort_ints(int *v, int n) {
	while (n > 16) {
		int p = v[n / 2], i = 0, j = n - 1;
		while (i <= j) {
			while (v[i] < p) i++;
			while (v[j] > p) j--;
			if (i <= j) {
				int t = v[i];
				v[i] = v[j];
				v[j] = t;
				i++;
				j--;
			}
		}
		if (j + 1 < n - i) { // recurse into the smaller part
			qsort_ints(v, j + 1);
			v += i;
			n -= i;
		} else {
			qsort_ints(v + i, n - i);
			n = j + 1;
		}
	}
	isort(v, n);
}

// sort_checksum sorts n numbers made from seed and returns
// sum(i * v[i]) mod 2^32 over the sorted array, or 0 for a bad n.
EXPORT("sort_checksum") unsigned sort_checksum(int n, unsigned seed) {
	if (n <= 0 || n > MAXN) return 0;
	unsigned x = seed;
	for (int i = 0; i < n; i++) {
		x = x * 1664525u + 1013904223u;
		a[i] = (int)x;
	}
	qsort_ints(a, n);
	unsigned sum = 0;
	for (int i = 0; i < n; i++) sum += (unsigned)i * (unsigned)a[i];
	return sum;
}

#ifndef __wasm__
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
	if (argc != 3) return 2;
	printf("%u\n", sort_checksum(atoi(argv[1]), (unsigned)strtoul(argv[2], 0, 10)));
	return 0;
}
#endif
