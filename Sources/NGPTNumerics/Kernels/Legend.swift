// Dimension names used in the kernels' shape comments (as llm.c and nanoGPT do):
//   B  batch size            T  sequence length (positions)     N = B·T rows of activations
//   C  model width d         H  heads                            dk = C / H, the head width
//   F  MLP hidden width 4d   V  vocabulary size
// Activations are row-major (N, ·) buffers. Forward kernels write their outputs; backward kernels
// *accumulate* (`+=`) into gradients, so a buffer with several consumers sums their gradients by
// construction. Zeroing is a separate call. Each backward sits below its forward and quotes it.

package typealias FloatPointer = UnsafeMutablePointer<Float>
package typealias ConstFloatPointer = UnsafePointer<Float>

/// `Norm(x) = x / (‖x‖ + normEpsilon)`, the tiny epsilon of docs/model.md §4: it keeps a zero vector finite and
/// changes nothing at float32 precision for any vector that is not nearly zero.
package let normEpsilon: Float = 1e-12
