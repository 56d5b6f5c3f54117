/// TCP control flags, with the bit values of byte 13 of the header (Linux's tcphdr
/// `TCPHDR_FIN`...`TCPHDR_CWR`), so the header byte is the raw value and IPVS's flags
/// (same bits) fold into this type.
public struct TCPFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let fin = TCPFlags(rawValue: 0x01)
    public static let syn = TCPFlags(rawValue: 0x02)
    public static let rst = TCPFlags(rawValue: 0x04)
    public static let psh = TCPFlags(rawValue: 0x08)
    public static let ack = TCPFlags(rawValue: 0x10)
    public static let urg = TCPFlags(rawValue: 0x20)
    public static let ece = TCPFlags(rawValue: 0x40)
    public static let cwr = TCPFlags(rawValue: 0x80)

    /// As tcpdump prints them: `S`, `S.`, `P.`, `F.`, `R`; `none` for no flag.
    public var description: String {
        var s = ""
        for (f, c) in [(TCPFlags.syn, "S"), (.fin, "F"), (.psh, "P"), (.rst, "R"), (.urg, "U"), (.ece, "E"), (.cwr, "W")] where contains(f) { s += c }
        if contains(.ack) { s += "." }
        return s.isEmpty ? "none" : s
    }
}
