import Testing
@testable import Netfilter

/// The three quoting rules (iptables-save, iptables-restore input, kube-proxy's comments), each
/// byte for byte as its writer spells it.
@Suite struct IPTablesQuotingTests {
    /// Moved from SaveNormalizerTests when `SaveNormalizer.quote` became `IPTablesQuoting.saved`.
    @Test func commentsAreQuotedOnlyWhenTheyMustBe() {
        #expect(IPTablesQuoting.saved("plain-word_1") == "plain-word_1")
        #expect(IPTablesQuoting.saved("ns/svc:p80") == "\"ns/svc:p80\"")
        #expect(IPTablesQuoting.saved("say \"hi\"") == "\"say \\\"hi\\\"\"")
    }

    /// xtables_save_string: the empty string, non-ASCII text and every escaped character.
    @Test func savedQuotesTheEmptyStringAndEscapesQuotesAndBackslashes() {
        #expect(IPTablesQuoting.saved("") == "\"\"")
        #expect(IPTablesQuoting.saved("it's") == "\"it\\'s\"")
        #expect(IPTablesQuoting.saved("a\\b") == "\"a\\\\b\"")
        #expect(IPTablesQuoting.saved("café") == "\"café\"")
        #expect(IPTablesQuoting.saved("a.b") == "\"a.b\"")
        #expect(IPTablesQuoting.isPlain("KUBE-SEP_1") && !IPTablesQuoting.isPlain("") && !IPTablesQuoting.isPlain("a b"))
        #expect(RuleWord.saved("it's").printed == IPTablesQuoting.saved("it's"))
    }

    /// iptables-restore input quotes only what its tokenizer would split or unescape.
    @Test func restoreSpellingQuotesOnlyBlanksQuotesAndBackslashes() {
        #expect(IPTablesQuoting.restoreSpelling("ns/svc:p80") == "ns/svc:p80")
        #expect(IPTablesQuoting.restoreSpelling("10.0.0.1:80") == "10.0.0.1:80")
        #expect(IPTablesQuoting.restoreSpelling("ns/svc:p80 cluster IP") == "\"ns/svc:p80 cluster IP\"")
        #expect(IPTablesQuoting.restoreSpelling("a\"b") == "\"a\\\"b\"")
        #expect(IPTablesQuoting.restoreSpelling("a\\b") == "\"a\\\\b\"")
        #expect(IPTablesQuoting.restoreSpelling("it's") == "\"it\\'s\"")
    }

    /// kube-proxy always double-quotes its comments, and iptables-restore reads back the text.
    @Test func kubeProxyCommentsAreAlwaysDoubleQuotedAndReadBack() {
        #expect(IPTablesQuoting.kubeProxyComment("ns/svc:p80 cluster IP") == "\"ns/svc:p80 cluster IP\"")
        #expect(IPTablesQuoting.kubeProxyComment("plain") == "\"plain\"")
        #expect(IPTablesQuoting.kubeProxyArgument("\"ns/svc:p80 cluster IP\"") == "ns/svc:p80 cluster IP")
        #expect(IPTablesQuoting.kubeProxyArgument("ns/svc:p80") == "ns/svc:p80")
        #expect(IPTablesQuoting.kubeProxyArgument("\"") == "\"")
        #expect(IPTablesQuoting.kubeProxyArgument("\"\"") == "")
        for text in ["a b", "plain", "ns/svc:p80 -> 10.0.0.1:80"] {
            #expect(IPTablesQuoting.kubeProxyArgument(IPTablesQuoting.kubeProxyComment(text)) == text)
        }
    }
}
