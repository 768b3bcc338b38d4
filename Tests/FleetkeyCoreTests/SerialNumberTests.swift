import FleetkeyCore
import FleetkeyTesting
import Testing
import X509

@Suite("Serial numbers")
struct SerialNumberTests {
    @Test("serials are positive, 16 octets, with no leading zero octet")
    func shape() {
        let generator = SerialNumberGenerator(random: SystemRandomSource())
        for _ in 0..<1000 {
            let bytes = Array(generator.next().bytes)
            #expect(bytes.count == 16)
            #expect(bytes[0] & 0x80 == 0)
            #expect(bytes[0] & 0x40 != 0)
        }
    }

    @Test("a seeded source reproduces serials; different seeds differ")
    func seeded() {
        let a = SerialNumberGenerator(random: SeededRandomSource(seed: 7))
        let b = SerialNumberGenerator(random: SeededRandomSource(seed: 7))
        let c = SerialNumberGenerator(random: SeededRandomSource(seed: 8))
        let first = a.next()
        #expect(first == b.next())
        #expect(first != c.next())
    }

    @Test("hex text round-trips")
    func hex() {
        #expect(Hex.upper([0x00, 0xAB, 0x7F]) == "00AB7F")
        #expect(Hex.decode("0x00:ab:7f") == [0x00, 0xAB, 0x7F])
        #expect(Hex.decode("abc") == [0x0A, 0xBC])
        #expect(Hex.decode("xyz") == nil)
    }
}
