/// The 8-byte VXLAN header (RFC 7348) over bytes: flags with the I bit, a 24-bit VNI.
public struct VXLANHeader {
    public static let headerLength = 8
    /// The IANA port; Linux's default is 8472, flannel's VXLAN backend uses 8472 too.
    public static let ianaPort: UInt16 = 4789
    public let bytes: UnsafeRawBufferPointer

    /// Checks the length, the I flag and the reserved bits, which Linux's vxlan_rcv drops on
    /// ("invalid vxlan flags") without extensions.
    public init(checking bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= 8 else { throw WireError(.vxlan, .truncated(needed: 8, available: bytes.count), at: 0) }
        guard bytes[0] & 0x08 != 0 else { throw WireError(.vxlan, .invalidField("I flag clear"), at: 0) }
        guard bytes[0] & ~0x08 == 0, bytes[1] == 0, bytes.be16(2) == 0 else { throw WireError(.vxlan, .invalidField("reserved flags set"), at: 0) }
        guard bytes[7] == 0 else { throw WireError(.vxlan, .invalidField("reserved byte set"), at: 7) }
        self.bytes = bytes
    }

    public var vni: UInt32 { bytes.be32(4) >> 8 }
    /// The inner Ethernet frame.
    public var payload: UnsafeRawBufferPointer { bytes.tail(from: 8) }
}

public struct VXLANRepr: Hashable, Sendable {
    public var vni: UInt32
    public init(vni: UInt32) { self.vni = vni & 0xFF_FFFF }
    public static func parse(_ h: VXLANHeader) -> VXLANRepr { VXLANRepr(vni: h.vni) }
    public var bufferLength: Int { 8 }
    public func emit(into b: UnsafeMutableRawBufferPointer) {
        b.put32(0, 0x0800_0000)
        b.put32(4, vni << 8)
    }
}
