import SignetCore
import Testing

@Suite("IP networks", .timeLimit(.minutes(2)))
struct IPNetworkTests {
    @Test func networksParseStrictlyAndContainWhatTheySay() throws {
        let v4 = try IPNetwork(parsing: "10.0.0.0/8")
        #expect(v4.contains(IPAddress("10.200.3.4")!))
        #expect(!v4.contains(IPAddress("11.0.0.1")!))
        #expect(v4.contains(IPAddress("::ffff:10.1.2.3")!), "IPv4-mapped peers of a dual-stack listener match")
        let v6 = try IPNetwork(parsing: "2001:db8::/32")
        #expect(v6.contains(IPAddress("2001:db8:ffff::1")!))
        #expect(!v6.contains(IPAddress("2001:db9::1")!))
        #expect(try IPNetwork(parsing: "192.0.2.7").description == "192.0.2.7/32")
        #expect(try IPNetwork(parsing: "0.0.0.0/0").contains(IPAddress("203.0.113.1")!))
        for bad in ["10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0", "2001:db8::/129", "fe80::1%eth0", "example.com", ""] {
            #expect(throws: IPNetwork.ParseError.self, "\(bad)") { try IPNetwork(parsing: bad) }
        }
        #expect(try IPNetwork.list("none").isEmpty)
        #expect(try IPNetwork.list(" 10.0.0.0/8 , ::1 ").count == 2)
    }

    @Test func limitsCountIPv6ByItsSlash64() {
        #expect(IPAddress("2001:db8:1:2:aaaa::1")!.limitKey == "2001:db8:1:2::/64")
        #expect(IPAddress("2001:db8:1:2:bbbb::9")!.limitKey == IPAddress("2001:db8:1:2::77")!.limitKey)
        #expect(IPAddress("2001:db8:1:3::1")!.limitKey != IPAddress("2001:db8:1:2::1")!.limitKey)
        #expect(IPAddress("198.51.100.7")!.limitKey == "198.51.100.7")
    }
}
