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
/// - The batch path prefetches arrays it cannot borrow: a service records where its `servers`
///   and scheduler buffers live as plain integers (`VirtualService.serversHint`, `schedHint`,
///   made by `hint(_:)`), read several packets before the service itself is used. Swift's
///   contiguous array storage (a private standard-library layout) puts a 32-byte header before
///   the first element (object header, then `count` at offset 16, then capacity and flags), and
///   every bounds check reads that `count`. `arrayHeaderBytes` and `arrayCountOffset` name those
///   two numbers once; `ArrayStorageLayoutTests` pins them against the running standard library,
///   so a toolchain that moves them fails a test instead of silently prefetching the wrong line.
///
/// Cost: each call is one instruction per 64-byte line, no allocation, no retain.
enum Prefetch {
    /// Bytes of Swift's array storage header before element 0 (64-bit platforms).
    static var arrayHeaderBytes: Int { 32 }
    /// Where the element count sits, counted back from element 0.
    static var arrayCountOffset: Int { 16 }
    static var lineBytes: Int { 64 }

    /// The address of `array`'s first element as a plain integer (it keeps nothing alive), for
    /// the prefetches below. Valid until the array next reallocates; see the type's note on why a
    /// stale one is harmless.
    @inline(__always)
    static func hint<T>(_ array: [T]) -> UInt {
        array.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
    }

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

    /// From a `hint`: the array's header (its count, read by the first bounds check) and its
    /// first `elementBytes` bytes of elements.
    @inline(__always)
    static func arrayStorage(hint: UInt, elementBytes: Int) {
        guard let elements = UnsafeRawPointer(bitPattern: hint) else { return }
        lines(elements - arrayHeaderBytes, bytes: arrayHeaderBytes + elementBytes)
    }

    /// From a `hint`: the line holding the array's count, which the bounds check reads first.
    @inline(__always)
    static func arrayCount(hint: UInt) {
        guard let elements = UnsafeRawPointer(bitPattern: hint) else { return }
        line(elements - arrayCountOffset)
    }

    /// From a `hint` to an array of `T`: element `index`'s line.
    @inline(__always)
    static func arrayElement<T>(hint: UInt, _ index: Int, of: T.Type) {
        guard let elements = UnsafeRawPointer(bitPattern: hint) else { return }
        line(elements + index * MemoryLayout<T>.stride)
    }

    /// From a `hint`: the first `bytes` bytes of the elements.
    @inline(__always)
    static func arrayHead(hint: UInt, bytes: Int) {
        guard let elements = UnsafeRawPointer(bitPattern: hint) else { return }
        lines(elements, bytes: bytes)
    }
}

/// LLVM's prefetch intrinsic: `(address, rw: 0 read / 1 write, locality 0...3, cache type:
/// 1 data)`. Used only by `Prefetch.line`.
@_silgen_name("llvm.prefetch.p0")
private func _llvmPrefetch(_ address: UnsafeRawPointer, _ rw: Int32, _ locality: Int32, _ cacheType: Int32)
