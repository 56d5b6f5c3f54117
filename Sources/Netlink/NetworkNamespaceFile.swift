import CNetlink
import Glibc

/// An open network namespace file (`/run/netns/NAME`, as `ip netns add` makes it, or
/// `/proc/PID/ns/net`), closed when the value goes. Its descriptor is what `setns(2)` and
/// `IFLA_NET_NS_FD` (moving a link into the namespace) take.
public final class NetworkNamespaceFile {
    public let path: String
    public let fd: Int32

    /// Opens `/run/netns/NAME`: `name` must be a plain file name, as `ip netns` names them.
    public convenience init(named name: String) throws(NetlinkError) {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw NetlinkError(operation: "open network namespace '\(name)'", message: "not a namespace name (ip netns list shows them)")
        }
        try self.init(path: "/run/netns/\(name)")
    }

    public init(path: String) throws(NetlinkError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw NetlinkError(operation: "open network namespace \(path)", errno: errno) }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Runs `body` on a new thread that has first entered this namespace (`setns`), and returns
    /// what it returns. The calling thread's namespace never changes, so nothing else in the
    /// process is disturbed; a netlink socket opened in `body` stays bound to this namespace
    /// for its whole life (the kernel binds a socket to the namespace it was created in).
    /// Cost: one thread creation and join, tens of microseconds.
    public func run<T>(_ body: @escaping () throws(NetlinkError) -> T) throws(NetlinkError) -> T {
        let job = NamespaceJob(fd: fd, path: path) { () throws(NetlinkError) -> Any in try body() }
        var thread = pthread_t()
        let unmanaged = Unmanaged.passRetained(job)
        let started = pthread_create(&thread, nil, { raw in
            let job = Unmanaged<NamespaceJob>.fromOpaque(raw!).takeRetainedValue()
            job.execute()
            return nil
        }, unmanaged.toOpaque())
        guard started == 0 else {
            unmanaged.release()
            throw NetlinkError(operation: "start a thread for namespace \(path)", errno: started)
        }
        pthread_join(thread, nil)
        switch job.result {
        case .success(let value)?: return value as! T
        case .failure(let error)?: throw error
        case nil: throw NetlinkError(operation: "enter network namespace \(path)", message: "thread ended without a result")
        }
    }
}

/// One closure to run inside a namespace, and its result. Touched by the starting thread only
/// before `pthread_create` and after `pthread_join`, and by the worker in between: the join
/// orders the accesses, hence `@unchecked Sendable`.
private final class NamespaceJob: @unchecked Sendable {
    let fd: Int32
    let path: String
    let body: () throws(NetlinkError) -> Any
    var result: Result<Any, NetlinkError>?

    init(fd: Int32, path: String, body: @escaping () throws(NetlinkError) -> Any) {
        self.fd = fd
        self.path = path
        self.body = body
    }

    func execute() {
        guard kdp_setns_net(fd) == 0 else {
            result = .failure(NetlinkError(operation: "enter network namespace \(path) (setns)", errno: errno))
            return
        }
        do { result = .success(try body()) } catch { result = .failure(error) }
    }
}
