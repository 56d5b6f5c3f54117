/// LLVM's prefetch intrinsic (`prefetcht0` on x86-64). Swift has no public spelling for it; an
/// `llvm.`-named external function is lowered by LLVM to the intrinsic. Unlike an ordinary load
/// it never blocks the reorder buffer, which is what lets the batch path overlap cache misses.
@_silgen_name("llvm.prefetch.p0")
func _llvmPrefetch(_ address: UnsafeRawPointer, _ rw: Int32, _ locality: Int32, _ cacheType: Int32)

@inline(__always)
func cachePrefetch(_ address: UnsafeRawPointer) {
    _llvmPrefetch(address, 0, 3, 1)
}

/// Prefetches every cache line of `[address, address + bytes)`, at most `maxLines` of them.
/// Structs here are not line-aligned (array elements sit after a 32-byte header), so a field
/// near a struct's end is often on one more line than `bytes / 64` would suggest.
@inline(__always)
func cachePrefetch(_ address: UnsafeRawPointer, bytes: Int, maxLines: Int = 8) {
    var line = UInt(bitPattern: address) & ~UInt(63)
    let end = UInt(bitPattern: address) &+ UInt(max(bytes, 1))
    var n = 0
    while line < end && n < maxLines {
        if let p = UnsafeRawPointer(bitPattern: line) { cachePrefetch(p) }
        line &+= 64
        n &+= 1
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// Asks for transparent huge pages on the 2 MiB-aligned part of a large, not yet touched
/// buffer (madvise(MADV_HUGEPAGE); a no-op where THP is off or unavailable). The connection
/// table is probed at random, so with 4 KiB pages nearly every probe is also a TLB miss.
func adviseHugePages(_ base: UnsafeMutableRawPointer, bytes: Int) {
    #if canImport(Glibc)
    let huge = 2 << 20
    guard bytes >= 2 * huge else { return }
    let start = (UInt(bitPattern: base) + UInt(huge - 1)) & ~UInt(huge - 1)
    let end = (UInt(bitPattern: base) + UInt(bytes)) & ~UInt(huge - 1)
    guard end > start, let p = UnsafeMutableRawPointer(bitPattern: start) else { return }
    _ = madvise(p, Int(end - start), 14)  // MADV_HUGEPAGE
    #endif
}
