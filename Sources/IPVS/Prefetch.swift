/// LLVM's prefetch intrinsic (`prefetcht0` on x86-64). Swift has no public spelling for it; an
/// `llvm.`-named external function is lowered by LLVM to the intrinsic. Unlike an ordinary load
/// it never blocks the reorder buffer, which is what lets the batch path overlap cache misses.
@_silgen_name("llvm.prefetch.p0")
func _llvmPrefetch(_ address: UnsafeRawPointer, _ rw: Int32, _ locality: Int32, _ cacheType: Int32)

@inline(__always)
func cachePrefetch(_ address: UnsafeRawPointer) {
    _llvmPrefetch(address, 0, 3, 1)
}
