import CNetlink

/// Why a netlink operation failed: the operation kdp asked for, and libnl's error (its code
/// and `nl_geterror`'s text), or the system call's errno for namespace handling.
public struct NetlinkError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kdp was doing, e.g. `add link kdp-a (veth)` or `dump routes`.
    public var operation: String
    /// libnl's error code (positive, an `NLE_*`), or errno when `isSystemError`.
    public var code: Int32
    /// `nl_geterror`'s text, or `strerror`'s.
    public var message: String
    public var isSystemError: Bool

    public init(operation: String, libnlCode: Int32) {
        self.operation = operation
        code = libnlCode < 0 ? -libnlCode : libnlCode
        message = String(cString: nl_geterror(code))
        isSystemError = false
    }

    public init(operation: String, errno: Int32) {
        self.operation = operation
        code = errno
        message = String(cString: strerror(errno))
        isSystemError = true
    }

    public init(operation: String, message: String) {
        self.operation = operation
        code = 0
        self.message = message
        isSystemError = false
    }

    /// libnl's "object not found" (`NLE_OBJ_NOTFOUND`): e.g. a generic netlink family the
    /// kernel does not have.
    public var isNotFound: Bool { !isSystemError && code == NLE_OBJ_NOTFOUND }
    /// The object exists already (`NLE_EXIST`).
    public var isExists: Bool { !isSystemError && code == NLE_EXIST }

    public var description: String { "\(operation): \(message)" }
}

/// Throws a `NetlinkError` for a negative libnl return value.
@inline(__always)
func check(_ result: Int32, _ operation: @autoclosure () -> String) throws(NetlinkError) {
    if result < 0 { throw NetlinkError(operation: operation(), libnlCode: result) }
}
