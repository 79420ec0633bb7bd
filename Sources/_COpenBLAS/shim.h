#ifndef NGPT_COPENBLAS_SHIM_H
#define NGPT_COPENBLAS_SHIM_H

// cblas.h comes from OpenBLAS (its include directory is found through pkg-config);
// lapacke.h from Debian's liblapacke-dev. Debian's libopenblas does not export the
// LAPACKE_* symbols, so the module map links liblapacke as well.
#include <cblas.h>
#include <lapacke.h>

#endif
