import FleetkeyCore
import SwiftASN1
import Testing
import X509

/// DER round trips of the structures Fleetkey writes itself, checked against bytes produced by openssl.
@Suite("ASN.1 structures written on SwiftASN1")
struct ExtensionEncodingTests {
    @Test("HardwareModuleName (RFC 4108 §5) round-trips")
    func hardwareModuleName() throws {
        let name = HardwareModuleName(hardwareType: [1, 3, 6, 1, 4, 1, 99999, 1], serialNumber: Array("SE-0001".utf8))
        var serializer = DER.Serializer()
        try serializer.serialize(name)
        let der = serializer.serializedBytes
        #expect(try HardwareModuleName(derEncoded: der) == name)
        // SEQUENCE { OID, OCTET STRING "SE-0001" }
        #expect(der.first == 0x30)
        #expect(Array(der.suffix(9)) == [0x04, 0x07] + Array("SE-0001".utf8))
        let general = try name.generalName()
        #expect(try HardwareModuleName(general) == name)
        #expect(try HardwareModuleName(GeneralName.dnsName("example.test")) == nil)
    }

    @Test("cRLDistributionPoints matches openssl's encoding of URI:http://127.0.0.1/ca.crl")
    func crlDistributionPointsVector() throws {
        // openssl x509 -extfile 'crlDistributionPoints=URI:http://127.0.0.1/ca.crl': the extension's OCTET STRING content.
        let expected: [UInt8] =
            [0x30, 0x1F, 0x30, 0x1D, 0xA0, 0x1B, 0xA0, 0x19, 0x86, 0x17] + Array("http://127.0.0.1/ca.crl".utf8)
        let points = CRLDistributionPoints([DistributionPoint(uri: "http://127.0.0.1/ca.crl")])
        var serializer = DER.Serializer()
        try serializer.serialize(points)
        #expect(serializer.serializedBytes == expected)
        let parsed = try CRLDistributionPoints(derEncoded: expected)
        #expect(parsed == points)
        #expect(parsed.points.flatMap(\.uris) == ["http://127.0.0.1/ca.crl"])

        let ext = try points.makeCertificateExtension()
        #expect(ext.oid == FleetkeyOID.crlDistributionPoints)
        #expect(!ext.critical)
        #expect(try CRLDistributionPoints(ext) == points)
    }

    @Test("a distribution point with reasons and cRLIssuer keeps them through a round trip")
    func distributionPointOptionalFields() throws {
        var serializer = DER.Serializer()
        // [1] ReasonFlags BIT STRING keyCompromise; [2] GeneralNames { URI }
        let reasons = try ASN1Any(derEncoded: [0x81, 0x02, 0x06, 0x40])
        let issuer = try ASN1Any(derEncoded: [0xA2, 0x05, 0x86, 0x03] + Array("a:b".utf8))
        let point = DistributionPoint(
            name: .fullName([.uniformResourceIdentifier("http://x/c.crl")]), reasons: reasons, crlIssuer: issuer)
        try serializer.serialize(point)
        #expect(try DistributionPoint(derEncoded: serializer.serializedBytes) == point)
    }

    @Test("an empty cRLDistributionPoints is refused (SIZE (1..MAX))")
    func emptyRefused() {
        #expect(throws: (any Error).self) { try CRLDistributionPoints(derEncoded: [0x30, 0x00]) }
    }
}
