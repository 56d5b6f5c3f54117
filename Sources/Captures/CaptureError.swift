/// What went wrong with a capture file as a whole; each case names the file. The command line
/// turns one into a single `kdp:` line and exit 2.
public enum CaptureError: Error, Hashable, Sendable, CustomStringConvertible {
    /// libpcap could not open the file: missing, unreadable, or not a pcap/pcapng capture
    /// (libpcap's message, such as "unknown file format").
    case cannotOpen(path: String, message: String)
    /// The file ends inside a record. `packet` is the 1-based number of the record cut short;
    /// `byteOffset` is where that record starts (pcap files only: pcapng blocks vary in size).
    case truncated(path: String, packet: Int, byteOffset: Int?, message: String)
    /// libpcap reported another read error at record `packet`.
    case readFailed(path: String, packet: Int, message: String)
    /// A `--filter` expression libpcap's compiler rejected, with its message.
    case badFilter(expression: String, message: String)
    /// An output could not be created, written or renamed into place.
    case cannotWrite(path: String, message: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, message): "\(path): not a readable capture: \(message)"
        case let .truncated(path, packet, offset, message):
            "\(path): truncated in packet \(packet)" + (offset.map { " (record at byte \($0))" } ?? "") + ": \(message)"
        case let .readFailed(path, packet, message): "\(path): read error at packet \(packet): \(message)"
        case let .badFilter(expression, message): "filter '\(expression)' does not compile: \(message)"
        case let .cannotWrite(path, message): "\(path): cannot write: \(message)"
        }
    }
}
