import CNetlink
import Glibc

/// Making and removing named network namespaces the way `ip netns add` and `ip netns del` do
/// (iproute2's `netns_add`/`netns_delete`), without running `ip`: `/run/netns` made a shared
/// mount point, an empty file `/run/netns/NAME`, a thread that unshares a new network namespace
/// and bind-mounts its `/proc/thread-self/ns/net` onto the file. The namespace lives as long as
/// the mount (or a process or socket in it); removing the mount and the file ends it, with
/// every link in it (a veth takes its peer in another namespace along).
extension NetworkNamespaceFile {
    /// Where `ip netns` keeps its namespace files.
    public static let directory = "/run/netns"

    /// Creates the namespace `ip netns` will call `name` and opens it. Fails with EEXIST when
    /// that name exists already (a namespace is never reused or replaced).
    /// Cost: one thread, one unshare and one bind mount.
    public static func create(named name: String) throws(NetlinkError) -> NetworkNamespaceFile {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != "..", name.utf8.count <= 255 else {
            throw NetlinkError(operation: "create network namespace '\(name)'", message: "not a namespace name")
        }
        let op = "create network namespace \(name)"
        if mkdir(directory, 0o755) != 0 && errno != EEXIST { throw NetlinkError(operation: op + " (mkdir \(directory))", errno: errno) }
        // As iproute2: make the directory a shared mount point, so that namespaces mounted here
        // show in every mount namespace; bind it onto itself first when it is not a mount point.
        if kdp_make_shared(directory) != 0 {
            guard errno == EINVAL, kdp_bind_self(directory) == 0, kdp_make_shared(directory) == 0 else {
                throw NetlinkError(operation: op + " (make \(directory) a shared mount)", errno: errno)
            }
        }
        let path = "\(directory)/\(name)"
        let fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0)
        guard fd >= 0 else { throw NetlinkError(operation: op, errno: errno) }
        close(fd)
        let job = NamespaceCreation(path: path)
        var thread = pthread_t()
        let unmanaged = Unmanaged.passRetained(job)
        let started = pthread_create(&thread, nil, { raw in
            let job = Unmanaged<NamespaceCreation>.fromOpaque(raw!).takeRetainedValue()
            if kdp_unshare_net() != 0 {
                job.failure = ("unshare(CLONE_NEWNET)", errno)
            } else if kdp_bind_mount("/proc/thread-self/ns/net", job.path) != 0 {
                job.failure = ("bind mount", errno)
            }
            return nil
        }, unmanaged.toOpaque())
        guard started == 0 else {
            unmanaged.release()
            unlink(path)
            throw NetlinkError(operation: op + " (start a thread)", errno: started)
        }
        pthread_join(thread, nil)
        if let (what, code) = job.failure {
            unlink(path)
            throw NetlinkError(operation: op + " (\(what))", errno: code)
        }
        return try NetworkNamespaceFile(path: path)
    }

    /// Removes the namespace `ip netns` calls `name` (`ip netns del`): the mount is detached and
    /// the file removed. The kernel frees the namespace, and its links, once nothing holds it.
    public static func delete(named name: String) throws(NetlinkError) {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw NetlinkError(operation: "delete network namespace '\(name)'", message: "not a namespace name")
        }
        let path = "\(directory)/\(name)"
        if kdp_detach(path) != 0 && errno != EINVAL && errno != ENOENT {
            throw NetlinkError(operation: "delete network namespace \(name) (umount)", errno: errno)
        }
        if unlink(path) != 0 && errno != ENOENT { throw NetlinkError(operation: "delete network namespace \(name)", errno: errno) }
    }

    /// The names of the namespaces in `/run/netns` (`ip netns list`), sorted; empty when the
    /// directory does not exist.
    public static func names() -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var out: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { out.append(name) }
        }
        return out.sorted()
    }
}

/// The new namespace's path and what failed on the creating thread; read after the join.
private final class NamespaceCreation: @unchecked Sendable {
    let path: String
    var failure: (String, Int32)?
    init(path: String) { self.path = path }
}
