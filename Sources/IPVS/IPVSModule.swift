// The IPVS module (issue #6): Linux IPVS as the kernel runs it, from
// ../shared/reference/ipvs-semantics.md and net/netfilter/ipvs/*.c.
//
// Entry points
// - `IPVSTable`: one network namespace's IPVS. Control plane: `addService`, `editService`,
//   `addDestination`, `editDestination`, `deleteDestination`. Data plane: `input(_:)` for a
//   client→service packet, `input(batch:into:)` for a batch (same verdicts, with prefetching),
//   `output(connection:flags:)` for a reply, `advance(bySeconds:)` / `advance(to:)` for the clock,
//   `expire(connection:)` to fire one entry's timer now.
// - `Ipvsadm`: `list` (-Ln, `sort: false` = --nosort), `listStats` (-Ln --stats),
//   `listConnections` (-Lnc), `save` (-S -n), `parseSave` (-S text back into a table).
// Elsewhere: scenarios (`kdp ipvs simulate`, YAML) are the IPVSScenarios module's, and the
// timings of `kdp bench` (`IPVSBench`) are the Bench module's. IPVS imports only Wire.
//
// Choices where the kernel is timing-dependent or the model is narrower (say so in output):
// - A SYN that reschedules an old entry (conn_reuse_mode / expire_nodest_conn) is scheduled
//   while the old entry still counts; the old entry is then expired before the new one is made.
// - With expire_nodest_conn=1 the kernel flushes a deleted server's connections one jiffy after
//   the delete; kdp does it at once.
// - No conntrack: the "old conntrack → drop the SYN" path never triggers.
// - SCTP, FTP helpers, persistence engines, one-packet scheduling effects, sync daemons and the
//   estimator (rates) are not modelled. Trash entries never expire (a revived server keeps its
//   stats even after the kernel would have freed it).
// - `-Lnc` lists entries in entry-index order (the kernel walks hash buckets).
// - Packet lengths are the caller's; the scenario runner uses 40-byte TCP/UDP packets.
