// `import NGPT` gives the whole library. The layers beneath are separate modules, each using only
// those below it: NGPTNumerics (tensors, GEMM, threads, kernels, LAPACK, safetensors) →
// NGPTModels (architectures, the transformer, training, data) → NGPTStudy (comparison,
// inspection, reports).
@_exported import NGPTNumerics
@_exported import NGPTModels
@_exported import NGPTStudy
