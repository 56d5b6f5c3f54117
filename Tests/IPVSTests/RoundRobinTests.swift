import Testing
import Wire
@testable import IPVS

@Suite struct RoundRobinTests {
    @Test func rrVisitsNewestServerFirstBecauseNewServersGoToTheHead() {
        var (t, _) = makeTable(.rr, weights: [1, 1, 1])
        #expect(picks(&t, 7) == [3, 2, 1, 3, 2, 1, 3])
    }

    @Test func rrReachesALaterAddedServerOnlyWhenTheScanWraps() {
        var (t, svc) = makeTable(.rr, weights: [1, 1, 1])
        #expect(picks(&t, 2) == [3, 2])
        try! t.addDestination(service: svc, DestinationConfig(address: ip("10.244.1.4"), port: 8080))
        #expect(picks(&t, 5, from: 10) == [1, 4, 3, 2, 1])
    }

    @Test func rrDeletingTheCursorServerContinuesWithItsSuccessor() {
        var (t, svc) = makeTable(.rr, weights: [1, 1, 1])
        #expect(picks(&t, 2) == [3, 2])  // cursor on .2 (position 1)
        try! t.deleteDestination(service: svc, address: ip("10.244.1.2"), port: 8080)
        #expect(picks(&t, 3, from: 10) == [1, 3, 1])
    }

    @Test func rrSkipsWeightZeroAndReturnsNoDestinationWhenAllAreQuiesced() {
        var (t, svc) = makeTable(.rr, weights: [1, 0, 1])
        #expect(picks(&t, 4) == [3, 1, 3, 1])
        setWeight(&t, svc, 1, 0)
        setWeight(&t, svc, 3, 0)
        #expect(picks(&t, 1, from: 20) == [0])
    }

    @Test func wrrBuiltOneByOneStartsWithAWeightOneCycle() {
        // .1 w4, .2 w3, .3 w2 added in that order: the first add leaves cw = 1 (reference §3.2).
        var (t, _) = makeTable(.wrr, weights: [4, 3, 2])
        #expect(picks(&t, 21) == [3, 2, 1, 1, 2, 1, 3, 2, 1, 3, 2, 1, 1, 2, 1, 3, 2, 1, 3, 2, 1])
    }

    @Test func wrrInitialisedWithAllServersPresentStartsAtMaxWeight() {
        // Kernel order .3(w4) .2(w3) .1(w2); changing the scheduler runs init_service (cw = mw).
        var (t, svc) = makeTable(.rr, weights: [2, 3, 4])
        var c = t.services[Int(svc)].config
        c.scheduler = .wrr
        try! t.editService(svc, config: c)
        #expect(picks(&t, 9) == [3, 3, 2, 3, 2, 1, 3, 2, 1])
    }

    @Test func wrrWeightChangeRestartsAtTheHeadAndKeepsCurrentWeight() {
        var (t, svc) = makeTable(.wrr, weights: [1, 1, 1])
        #expect(picks(&t, 2) == [3, 2])
        setWeight(&t, svc, 1, 3)  // cl = head, di = 1, mw = 3, cw stays 1
        #expect(picks(&t, 10, from: 10) == [3, 2, 1, 1, 1, 3, 2, 1, 1, 1])
    }

    @Test func wrrRoundsCurrentWeightToTheGcdStep() {
        // .1 w2 then .2 w4: di = 2, mw = 3; cw was 1 → (1/2)*2+1 = 1.
        var (t, svc) = makeTable(.wrr, weights: [2, 4])
        #expect(t.services[Int(svc)].sched.wrrCw == 1)
        #expect(t.services[Int(svc)].sched.wrrMw == 3)
        #expect(picks(&t, 9) == [2, 1, 2, 2, 1, 2, 2, 1, 2])
    }

    @Test func wrrWithAllWeightsZeroFindsNothing() {
        var (t, _) = makeTable(.wrr, weights: [0, 0])
        #expect(picks(&t, 2) == [0, 0])
    }
}

@Suite struct LeastConnectionTests {
    @Test func lcTiesGoToTheMostRecentlyAddedServer() {
        var (t, _) = makeTable(.lc, weights: [1, 1, 1])
        // Each SYN makes its connection active (overhead 256) before the next is scheduled.
        #expect(picks(&t, 4) == [3, 2, 1, 3])
    }

    @Test func lcIgnoresWeightButSkipsWeightZero() {
        var (t, _) = makeTable(.lc, weights: [5, 0, 1])
        #expect(picks(&t, 4) == [3, 1, 3, 1])
    }

    @Test func lcCountsInactiveConnectionsAtOneTwoHundredFiftySixthOfActive() {
        var (t, svc) = makeTable(.lc, weights: [1, 1])  // order .2 .1
        #expect(syn(&t, "192.168.0.1") == 2)
        #expect(server(t, svc, 2).connOverhead == 256)
        close(&t, "192.168.0.1")  // TIME_WAIT: inactive, overhead 1
        #expect(server(t, svc, 2).connOverhead == 1)
        #expect(picks(&t, 2, from: 10) == [1, 2])  // 0 < 1, then 1 < 256
    }

    @Test func wlcComparesOverheadPerWeightWithStrictInequality() {
        var (t, _) = makeTable(.wlc, weights: [1, 2])  // order .2(w2) .1(w1)
        #expect(picks(&t, 6) == [2, 1, 2, 2, 1, 2])
    }

    @Test func sedUsesActivePlusOneAndIgnoresInactive() {
        var (t, _) = makeTable(.sed, weights: [1, 2])
        #expect(picks(&t, 6) == [2, 2, 1, 2, 2, 1])
    }

    @Test func nqTakesTheFirstIdleServerAtOnce() {
        var (t, _) = makeTable(.nq, weights: [1, 2])
        #expect(picks(&t, 6) == [2, 1, 2, 2, 2, 1])
    }

    @Test func nqWithUDPAlwaysPicksTheFirstUsableServer() {
        var (t, _) = makeTable(.nq, weights: [1, 1, 1], protocol: .udp)
        let got = (1...4).map { syn(&t, "192.168.0.\($0)", proto: .udp) }
        #expect(got == [3, 3, 3, 3])
    }

    @Test func lcWithUDPComparesInactiveCounts() {
        var (t, _) = makeTable(.lc, weights: [1, 1, 1], protocol: .udp)
        let got = (1...4).map { syn(&t, "192.168.0.\($0)", proto: .udp) }
        #expect(got == [3, 2, 1, 3])
    }

    @Test func overloadedServersAreSkippedUntilBelowTheLowerThreshold() {
        var t = IPVSTable()
        let svc = try! t.addService(ServiceConfig(key: ServiceKey(protocol: .tcp, address: vip, port: 80), scheduler: .rr))
        try! t.addDestination(service: svc, DestinationConfig(address: ip("10.244.1.1"), port: 8080, upperThreshold: 2, lowerThreshold: 1))
        try! t.addDestination(service: svc, DestinationConfig(address: ip("10.244.1.2"), port: 8080))
        #expect(picks(&t, 4) == [2, 1, 2, 1])
        #expect(server(t, svc, 1).overloaded)  // total 2 ≥ u_threshold 2
        #expect(picks(&t, 2, from: 10) == [2, 2])
        let c1 = t.connectionIndex(ConnectionKey(protocol: .tcp, client: ip("192.168.0.2"), clientPort: 40000, virtual: vip, virtualPort: 80))
        t.expire(connection: c1)
        #expect(server(t, svc, 1).overloaded)  // total 1 is not < l_threshold 1
        let c2 = t.connectionIndex(ConnectionKey(protocol: .tcp, client: ip("192.168.0.4"), clientPort: 40000, virtual: vip, virtualPort: 80))
        t.expire(connection: c2)
        #expect(!server(t, svc, 1).overloaded)
    }

    @Test func withoutLowerThresholdOverloadClearsBelowThreeQuartersOfUpper() {
        var t = IPVSTable()
        let svc = try! t.addService(ServiceConfig(key: ServiceKey(protocol: .tcp, address: vip, port: 80), scheduler: .rr))
        try! t.addDestination(service: svc, DestinationConfig(address: ip("10.244.1.1"), port: 8080, upperThreshold: 4))
        _ = picks(&t, 4)
        #expect(server(t, svc, 1).overloaded)
        #expect(picks(&t, 1, from: 10) == [0])
        for c in [1, 2] {
            let i = t.connectionIndex(ConnectionKey(protocol: .tcp, client: ip("192.168.0.\(c)"), clientPort: 40000, virtual: vip, virtualPort: 80))
            t.expire(connection: i)
            // 3*4 = 12 is not < 12; 2*4 = 8 < 12 clears.
            #expect(server(t, svc, 1).overloaded == (c == 1))
        }
    }
}
