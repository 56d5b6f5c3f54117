import Wire

/// Words for traces: rules as `nft monitor trace` names them (family, table, chain, handle)
/// and each step's action. Only renderers call these; evaluation never makes strings.
extension NFTRuleset {
    /// `ip kube-proxy`: the table as nft's trace prints it.
    public func tableName(ofChain c: Int32) -> String {
        let t = tables[chains[Int(c)].table]
        return "\(t.family.rawValue) \(t.name)"
    }

    public func chainName(_ c: Int32) -> String { chains[Int(c)].name }

    public func rule(_ c: Int32, _ r: Int32) -> NFTRule? {
        guard r >= 0, Int(r) < chains[Int(c)].rules.count else { return nil }
        return chains[Int(c)].rules[Int(r)]
    }

    /// The rule's text with its comment, as `nft list` prints it (without the handle).
    public func ruleText(_ c: Int32, _ r: Int32) -> String? {
        guard let rule = rule(c, r) else { return nil }
        return rule.text + (rule.comment.map { " comment \"\($0)\"" } ?? "")
    }

    public func describe(_ v: NFTVerdict) -> String {
        switch v {
        case .accept: "accept"
        case .drop: "drop"
        case .continue: "continue"
        case .return: "return"
        case .jump(let c): "jump " + chainName(c)
        case .goto(let c): "goto " + chainName(c)
        }
    }

    public func describe(_ d: NFTNATDecision) -> String {
        switch d {
        case .dnat(let a, let port): "dnat to " + Self.endpoint(a, port)
        case .snat(let a, let port): "snat to " + Self.endpoint(a, port)
        case .masquerade(let fully): fully ? "masquerade fully-random" : "masquerade"
        }
    }

    static func endpoint(_ a: IPAddress?, _ port: UInt16?) -> String {
        switch (a, port) {
        case (let a?, let p?): SocketAddress(a, port: p).description
        case (let a?, nil): a.description
        case (nil, let p?): ":\(p)"
        case (nil, nil): "(unchanged)"
        }
    }

    /// `service-ips[10.96.0.10 . udp . 53]`: a set and an element's key, as nft writes it.
    public func elementName(set s: Int32, element e: Int32) -> String {
        let set = sets[Int(s)]
        let name = set.anonymous ? (set.isMap ? "map" : "set") : set.name
        guard e >= 0 else { return name + "[dynamic]" }
        let el = set.elements[Int(e)]
        let key = zip(set.keyTypes, zip(el.low, el.high)).map { Self.format($0.1.0, $0.1.1, $0.0) }.joined(separator: " . ")
        return "\(name)[\(key)]"
    }

    /// What a step did, in nft trace's words; a map lookup shows the key and the element's
    /// verdict: `service-ips[172.30.0.41 . tcp . 80] → goto service-…`.
    public func describe(_ step: NFTStep) -> String {
        switch step.action {
        case .verdict(let v): describe(v)
        case .reject: "reject"
        case .mapLookup(let s, let e, let v): elementName(set: s, element: e) + " → " + describe(v)
        case .nat(let d, let s, let e): s >= 0 ? elementName(set: s, element: e) + " → " + describe(d) : describe(d)
        case .markSet(let m): "mark set 0x" + String(m, radix: 16)
        case .setUpdate(let s): "update @" + sets[Int(s)].name
        case .matched: "continue"
        case .policy(let drop): drop ? "policy drop" : "policy accept"
        }
    }

    /// A typed value (or range) as nft prints it.
    public static func format(_ low: UInt128, _ high: UInt128, _ type: NFTDataType) -> String {
        func one(_ v: UInt128) -> String {
            switch type {
            case .ipv4Addr: IPAddress(family: .ipv4, bits: v).description
            case .ipv6Addr: IPAddress(family: .ipv6, bits: v).description
            case .inetProto: IPProtocol(rawValue: UInt8(truncatingIfNeeded: v)).name
            case .inetService, .integer: String(v)
            case .mark: "0x" + String(v, radix: 16)
            case .ifname: NFTInterfaceName.unpack(v)
            case .nfproto: v == 2 ? "ipv4" : "ipv6"
            case .verdict: "?"
            }
        }
        if low == high { return one(low) }
        if type == .ipv4Addr || type == .ipv6Addr {
            let bits = type == .ipv4Addr ? 32 : 128
            let span = high - low
            if span != UInt128.max, (span & (span &+ 1)) == 0, low & span == 0 {
                return one(low) + "/" + String(bits - (span == 0 ? 0 : 128 - span.leadingZeroBitCount))
            }
        }
        return one(low) + "-" + one(high)
    }
}

extension NFTInterfaceName {
    public static func unpack(_ v: UInt128) -> String {
        var bytes: [UInt8] = []
        for i in 0..<16 {
            let b = UInt8(truncatingIfNeeded: v >> UInt128(8 * (15 - i)))
            if b == 0 { break }
            bytes.append(b)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
