/// Cache prefetches for the batch input path (`IPVSTable.input(batch:into:lookahead:)`), and the
/// only place in IPVS that knows how to issue one or where an `Array`'s storage begins.
///
/// Why it is done this way:
/// - Swift has no public spelling for a prefetch. Declaring LLVM's intrinsic as an external
///   function (`@_silgen_name("llvm.prefetch.p0")`) makes LLVM lower each call to the
///   instruction itself (`prefetcht0` on x86-64). Unlike an ordinary load, a prefetch never
///   blocks the reorder buffer, which is what lets the batch overlap the cache misses of
///   several packets; and it never faults, so an address that is stale or wrong costs a wasted
///   prefetch, never a wrong read or a crash.
/// - Every prefetch is computed from arrays the table holds (the flat `ServiceStore` pools and
///   the connection index), borrowed for the instant of the call: integer offsets, no pointers
///   kept, nothing about the standard library's private array layout assumed.
///
/// Cost: each call is one instruction per 64-byte line, no allocation, no retain.
enum Prefetch {
    static var lineBytes: Int { 64 }

    /// The cache line holding `address`.
    @inline(__always)
    static func line(_ address: UnsafeRawPointer) {
        _llvmPrefetch(address, 0, 3, 1)  // read, keep in every cache level, data cache
    }

    /// Every cache line of `[address, address + bytes)`, at most `maxLines` of them. Structs in
    /// an array are not line-aligned (the elements start after the header), so a field near a
    /// struct's end is often on one more line than `bytes / 64` would suggest.
    @inline(__always)
    static func lines(_ address: UnsafeRawPointer, bytes: Int, maxLines: Int = 8) {
        var line = UInt(bitPattern: address) & ~UInt(lineBytes - 1)
        let end = UInt(bitPattern: address) &+ UInt(max(bytes, 1))
        var n = 0
        while line < end && n < maxLines {
            if let p = UnsafeRawPointer(bitPattern: line) { Self.line(p) }
            line &+= UInt(lineBytes)
            n &+= 1
        }
    }

    /// Element `index` of the buffer (one line; nothing is read).
    @inline(__always)
    static func element<T>(_ buffer: UnsafeBufferPointer<T>, _ index: Int) {
        line(UnsafeRawPointer(buffer.baseAddress! + index))
    }

    /// The whole of element `index` of the buffer, every line it touches.
    @inline(__always)
    static func wholeElement<T>(_ buffer: UnsafeBufferPointer<T>, _ index: Int) {
        lines(UnsafeRawPointer(buffer.baseAddress! + index), bytes: MemoryLayout<T>.stride)
    }
}

/// LLVM's prefetch intrinsic: `(address, rw: 0 read / 1 write, locality 0...3, cache type:
/// 1 data)`. Used only by `Prefetch.line`.
@_silgen_name("llvm.prefetch.p0")
private func _llvmPrefetch(_ address: UnsafeRawPointer, _ rw: Int32, _ locality: Int32, _ cacheType: Int32)
