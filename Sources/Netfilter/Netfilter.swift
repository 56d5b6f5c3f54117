// The Netfilter module: tables, chains, rules, evaluation, conntrack (issue #3).
import Wire
