#if canImport(Glibc)
import Glibc
#endif

/// Asks for transparent huge pages on the 2 MiB-aligned part of a large, not yet touched
/// buffer (madvise(MADV_HUGEPAGE); a no-op where THP is off or unavailable). The connection
/// table is probed at random, so with 4 KiB pages nearly every probe is also a TLB miss.
/// `package` so that the benchmark baseline (`Bench.ConnectionHashTable`) lays out its memory
/// as the connection index does. Cost: one system call, only for buffers of 4 MiB or more.
package func adviseHugePages(_ base: UnsafeMutableRawPointer, bytes: Int) {
    #if canImport(Glibc)
    let huge = 2 << 20
    guard bytes >= 2 * huge else { return }
    let start = (UInt(bitPattern: base) + UInt(huge - 1)) & ~UInt(huge - 1)
    let end = (UInt(bitPattern: base) + UInt(bytes)) & ~UInt(huge - 1)
    guard end > start, let p = UnsafeMutableRawPointer(bitPattern: start) else { return }
    _ = madvise(p, Int(end - start), 14)  // MADV_HUGEPAGE
    #endif
}
