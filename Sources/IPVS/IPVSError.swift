/// Why a control-plane request was refused, with the text ipvsadm prints for the same errno
/// where there is one (libipvs.c: ipvs_strerror).
public enum IPVSError: Error, Equatable, Sendable, CustomStringConvertible {
    case serviceExists
    case noSuchService
    case destinationExists
    case noSuchDestination
    /// -ERANGE from ip_vs_add_dest / ip_vs_edit_dest (negative weight, l_threshold > u_threshold).
    case outOfRange(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .serviceExists: "Service already exists"
        case .noSuchService: "No such service"
        case .destinationExists: "Destination already exists"
        case .noSuchDestination: "No such destination"
        case .outOfRange(let what): "\(what) out of range"
        case .invalid(let what): what
        }
    }
}
