import Wire

/// Which half of a connection tuple a NAT hook rewrites (HOOK2MANIP in nf_nat.h).
public enum Manip: Hashable, Sendable { case source, destination }

/// An address rewrite a trace step made or set up, as a value: renderers and verification read
/// it instead of recognising rewrites by the first words of the action text.
///
/// Built only when steps are recorded (`PathState.step` takes it as an autoclosure).
public enum Rewrite: Hashable, Sendable {
    /// A DNAT target bound the connection's destination to `address:port`.
    case dnat(IPAddress, port: UInt16)
    /// A REDIRECT target bound the destination to a local address.
    case redirect(IPAddress, port: UInt16)
    /// An SNAT target bound the connection's source.
    case snat(IPAddress, port: UInt16)
    /// A MASQUERADE target bound the source to the output device's address.
    case masquerade(IPAddress, port: UInt16)
    /// No NAT rule matched, but the source port was taken: nf_nat's null binding moved it.
    case sourcePortRemapped(from: UInt16, to: UInt16)
    /// The nat hook applied the connection's stored binding (nf_nat_packet): NAT on a later
    /// packet of the connection, or, with `reply`, a reply un-NATed. `manip` says which half.
    case conntrackNAT(Manip, reply: Bool, IPAddress, port: UInt16)
    /// IPVS masq forwarding (ip_vs_nat_xmit): the virtual service's address became the real
    /// server's.
    case ipvsMasq(virtual: IPAddress, virtualPort: UInt16, real: IPAddress, realPort: UInt16)
    /// IPVS's out hook: a real server's reply leaves with the virtual address as its source.
    case ipvsReply(virtual: IPAddress, port: UInt16)
}
