// The Netfilter module (issue #3): iptables rulesets in and out, and what one node's kernel does
// with a packet — hook by hook, with conntrack and NAT.
//
// Using it (what `kdp trace-rules` wires up):
//
//     let rs = try Ruleset.parse(text: text, file: path, lenient: lenient)   // throws RulesetParseError
//                                                    // (noflush: true continues a table named twice)
//     rs.iptablesSave()                                                      // the same bytes back
//     var host = Host.simple(localAddresses: localIPs)                       // or Host(interfaces:routes:)
//     host.ipsets = try IPSetStore.parse(ipsetSave: setsText)                // throws IPSetParseError
//     let tracer = Tracer(ruleset: rs, compiled: false)                      // compiled: the indexed fast path
//     let trace = tracer.trace(packet: packet, host: host,
//                              options: TraceOptions(allPaths: true, seed: 1, verbose: false))
//     print(trace.text())            // the story
//     print(trace.json())            // ARCHITECTURE.md's trace schema
//
// or, all at once with the node's ipsets and IPVS, Dataplane's `TraceRulesRequest(...).run()`.
//
// Fidelity notes, where the kernel's behaviour was chosen on purpose:
// - Parsing refuses what loading would refuse (HookCheck: NAT targets outside nat or reachable
//   from the wrong hook, REJECT outside INPUT/FORWARD/OUTPUT, CT outside raw, -i/-o in the wrong
//   built-in chain...), checked case by case against the real iptables-restore (KernelCheckTests).
// - Steps use nft trace's vocabulary closely enough that the kernel check compares kdp's rule
//   path with `xtables-monitor --trace`; empty built-in chains with policy ACCEPT leave no step,
//   as iptables-nft creates no base chain for them.
// - Matches run in the kernel's order: the IP header (-s -d -p -i -o -f, ip_packet_match) first,
//   then match modules as written, stopping at the first that fails; side effects (recent lists,
//   statistic nth counters, the random source) happen only for matches actually evaluated.
// - nat chains run once per connection and manip type (nf_nat_inet_fn); later packets and replies
//   are rewritten from the conntrack entry (nf_nat_packet); a connection without a SNAT rule still
//   gets a source port remapped when it would clash (nf_nat_alloc_null_binding).
// - Locally generated packets to a local address loop through lo: PREROUTING and INPUT run again,
//   nat does not (the entry is already bound).
// - Randomness (statistic random, DNAT/SNAT address ranges, random source ports) comes from the
//   seeded generator; the kernel hashes for address ranges (find_best_ips_proto), kdp draws.
// - Not modelled: ICMP errors as RELATED traffic, fragments, TCP window tracking beyond the first
//   packet's flags, conntrack timeouts, IPVS (its own module), bridged packets (physdev never
//   sees a bridge), packet TTL (`recent --rttl` is accepted, not checked), CT zones and helpers
//   (accepted, no effect). `limit` and `nfacct` always match. An iptables ruleset is one family: feed
//   ip6tables-save output separately for IPv6.
import Wire
