import Crypto
import FleetkeyCore
import Foundation
import SwiftASN1
import Testing
import X509

/// DER round trips and strict refusals for every RFC 6960 structure Fleetkey writes on SwiftASN1.
@Suite("OCSP structures (RFC 6960) on SwiftASN1")
struct OCSPStructureTests {
    static func der(_ value: some DERSerializable) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(value)
        return serializer.serializedBytes
    }

    static let serial = Certificate.SerialNumber(bytes: [0x4A, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07])
    static let highBitSerial = Certificate.SerialNumber(bytes: [0x80, 0x01])

    static func certID(_ hash: OCSPHashAlgorithm = .sha1, null: Bool = true, serial: Certificate.SerialNumber = serial)
        -> OCSPCertID
    {
        OCSPCertID(
            hashAlgorithm: OCSPHashAlgorithmIdentifier(hash, nullParameters: null),
            issuerNameHash: [UInt8](repeating: 0xAA, count: hash.digestLength),
            issuerKeyHash: [UInt8](repeating: 0xBB, count: hash.digestLength), serialNumber: serial)
    }

    static func time(_ seconds: Int) throws -> GeneralizedTime {
        try GeneralizedTime(
            year: 2026, month: 11, day: 22, hours: 10, minutes: seconds / 60, seconds: seconds % 60,
            fractionalSeconds: 0)
    }

    static let nonceExtension: Certificate.Extension = {
        try! OCSPNonce([UInt8](repeating: 0x5A, count: 32)).makeCertificateExtension()
    }()

    // MARK: CertID and requests

    @Test("CertID round-trips with SHA-1/NULL and SHA-256/absent parameters, and keeps which form it read")
    func certIDRoundTrip() throws {
        for (hash, null) in [(OCSPHashAlgorithm.sha1, true), (.sha256, false), (.sha384, true), (.sha512, false)] {
            let id = Self.certID(hash, null: null)
            let bytes = try Self.der(id)
            let parsed = try OCSPCertID(derEncoded: bytes)
            #expect(parsed == id)
            #expect(parsed.hashAlgorithm.nullParameters == null)
            #expect(try Self.der(parsed) == bytes)
        }
        // A serial with its top bit set is written with a leading zero octet and read back to its magnitude.
        let high = try Self.der(Self.certID(serial: Self.highBitSerial))
        #expect(Array(high.suffix(5)) == [0x02, 0x03, 0x00, 0x80, 0x01])
        #expect(try OCSPCertID(derEncoded: high).serialNumber == Self.highBitSerial)
    }

    @Test("CertID refuses digests of the wrong length, odd parameters and negative serials")
    func certIDRefusals() throws {
        var short = Self.certID(.sha256)
        short.issuerKeyHash.removeLast()
        #expect(throws: (any Error).self) { try OCSPCertID(derEncoded: try Self.der(short)) }

        // hashAlgorithm with an OCTET STRING as parameters.
        // SEQUENCE { SEQUENCE { OID (7 octets), NULL }, ...: the NULL's tag is at offset 11.
        var bytes = try Self.der(Self.certID(.sha1, null: true))
        #expect(Array(bytes[11...12]) == [0x05, 0x00])
        bytes[11] = 0x04
        #expect(throws: (any Error).self) { try OCSPCertID(derEncoded: bytes) }

        // serialNumber INTEGER -1.
        var negative = try Self.der(Self.certID(serial: Certificate.SerialNumber(bytes: [0x7F])))
        negative[negative.count - 1] = 0xFF
        #expect(throws: (any Error).self) { try OCSPCertID(derEncoded: negative) }
    }

    @Test("Request, TBSRequest and OCSPRequest round-trip, with requestorName, extensions and a signature")
    func requestRoundTrip() throws {
        let single = OCSPSingleRequest(
            certID: Self.certID(), singleRequestExtensions: try Certificate.Extensions([Self.nonceExtension]))
        #expect(try OCSPSingleRequest(derEncoded: try Self.der(single)) == single)

        let tbs = OCSPTBSRequest(
            requestorName: .dnsName("relying.example"),
            requestList: [single, OCSPSingleRequest(certID: Self.certID(.sha256))],
            requestExtensions: try Certificate.Extensions([Self.nonceExtension]))
        let tbsBytes = try Self.der(tbs)
        #expect(try OCSPTBSRequest(derEncoded: tbsBytes) == tbs)

        let unsigned = try OCSPRequest(tbsRequest: tbs)
        let unsignedBytes = try unsigned.derBytes()
        let parsedUnsigned = try OCSPRequest(derEncoded: unsignedBytes)
        #expect(parsedUnsigned == unsigned)
        #expect(Array(parsedUnsigned.tbsRequestBytes) == tbsBytes)
        #expect(try OCSPNonce(of: parsedUnsigned.tbsRequest)?.value == [UInt8](repeating: 0x5A, count: 32))

        // A signed request: SEQUENCE { tbsRequest, [0] { Signature } }.
        let key = P256.Signing.PrivateKey()
        let signature = try key.signature(for: tbsBytes).derRepresentation
        let algorithm = try ASN1Any(derEncoded: [
            0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02,
        ])
        let root = try OCSPFixtureCertificates.selfSigned()
        let requestSignature = OCSPRequestSignature(
            signatureAlgorithm: algorithm, signature: ASN1BitString(bytes: Array(signature)[...]), certificates: [root])
        #expect(try OCSPRequestSignature(derEncoded: try Self.der(requestSignature)) == requestSignature)
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { coder in
            coder.serializeRawBytes(tbsBytes)
            try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
                try coder.serialize(requestSignature)
            }
        }
        let signed = try OCSPRequest(derEncoded: serializer.serializedBytes)
        #expect(signed.optionalSignature == requestSignature)
        #expect(try signed.derBytes() == serializer.serializedBytes)
    }

    @Test("TBSRequest refuses an encoded default version, other versions, and an empty requestList")
    func tbsRequestRefusals() throws {
        let list = try Self.der(OCSPSingleRequest(certID: Self.certID()))
        func tbs(version: [UInt8]?, requests: [UInt8]) throws -> [UInt8] {
            var serializer = DER.Serializer()
            serializer.appendConstructedNode(identifier: .sequence) { coder in
                if let version { coder.serializeRawBytes(version) }
                coder.appendConstructedNode(identifier: .sequence) { coder in coder.serializeRawBytes(requests) }
            }
            return serializer.serializedBytes
        }
        #expect(try OCSPTBSRequest(derEncoded: try tbs(version: nil, requests: list)).requestList.count == 1)
        // [0] EXPLICIT INTEGER 0: DER forbids writing the DEFAULT.
        #expect(throws: (any Error).self) {
            try OCSPTBSRequest(derEncoded: try tbs(version: [0xA0, 0x03, 0x02, 0x01, 0x00], requests: list))
        }
        #expect(throws: (any Error).self) {
            try OCSPTBSRequest(derEncoded: try tbs(version: [0xA0, 0x03, 0x02, 0x01, 0x01], requests: list))
        }
        #expect(throws: (any Error).self) { try OCSPTBSRequest(derEncoded: try tbs(version: nil, requests: [])) }
        // Extensions ::= SEQUENCE SIZE (1..MAX): an empty [2] list is refused.
        var serializer = DER.Serializer()
        serializer.appendConstructedNode(identifier: .sequence) { coder in
            coder.appendConstructedNode(identifier: .sequence) { coder in coder.serializeRawBytes(list) }
            coder.serializeRawBytes([0xA2, 0x02, 0x30, 0x00])
        }
        #expect(throws: (any Error).self) { try OCSPTBSRequest(derEncoded: serializer.serializedBytes) }
    }

    // MARK: Responses

    @Test("OCSPResponseStatus round-trips every defined value and refuses 4 and 7")
    func responseStatus() throws {
        for status in OCSPResponseStatus.allCases {
            let bytes = try Self.der(status)
            #expect(bytes == [0x0A, 0x01, UInt8(status.rawValue)])
            #expect(try OCSPResponseStatus(derEncoded: bytes) == status)
        }
        #expect(throws: (any Error).self) { try OCSPResponseStatus(derEncoded: [0x0A, 0x01, 0x04]) }
        #expect(throws: (any Error).self) { try OCSPResponseStatus(derEncoded: [0x0A, 0x01, 0x07]) }
        #expect(throws: (any Error).self) { try OCSPResponseStatus(derEncoded: [0x02, 0x01, 0x00]) }
    }

    @Test("an error OCSPResponse is SEQUENCE { ENUMERATED } and a body only goes with success")
    func responseShape() throws {
        let unauthorized = try OCSPResponse(error: .unauthorized)
        #expect(try unauthorized.derBytes() == [0x30, 0x03, 0x0A, 0x01, 0x06])
        #expect(try OCSPResponse(derEncoded: [0x30, 0x03, 0x0A, 0x01, 0x01]).responseStatus == .malformedRequest)
        #expect(throws: (any Error).self) { try OCSPResponse(error: .successful) }
        // successful without responseBytes
        #expect(throws: (any Error).self) { try OCSPResponse(derEncoded: [0x30, 0x03, 0x0A, 0x01, 0x00]) }
        // unauthorized with responseBytes
        let bytes = OCSPResponseBytes(responseType: FleetkeyOID.ocspBasicResponse, response: [0x30, 0x00])
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(OCSPResponseStatus.unauthorized)
            try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) {
                try $0.serialize(bytes)
            }
        }
        #expect(throws: (any Error).self) { try OCSPResponse(derEncoded: serializer.serializedBytes) }
        #expect(try OCSPResponseBytes(derEncoded: try Self.der(bytes)) == bytes)
        let other = OCSPResponseBytes(responseType: [1, 2, 3], response: [0x30, 0x00])
        #expect(throws: (any Error).self) { try other.basicResponse() }
    }

    @Test("CertStatus and RevokedInfo round-trip; good is [0] NULL, unknown [2] NULL; undefined reasons are refused")
    func certStatus() throws {
        #expect(try Self.der(OCSPCertStatus.good) == [0x80, 0x00])
        #expect(try Self.der(OCSPCertStatus.unknown) == [0x82, 0x00])
        let info = OCSPRevokedInfo(revocationTime: try Self.time(61), revocationReason: .keyCompromise)
        let revoked = OCSPCertStatus.revoked(info)
        let bytes = try Self.der(revoked)
        #expect(bytes.first == 0xA1)
        #expect(try OCSPCertStatus(derEncoded: bytes) == revoked)
        #expect(try OCSPRevokedInfo(derEncoded: try Self.der(info)) == info)
        let bare = OCSPRevokedInfo(revocationTime: try Self.time(0), revocationReason: nil)
        #expect(try OCSPRevokedInfo(derEncoded: try Self.der(bare)) == bare)
        // unspecified is left out, as RFC 5280 §5.3.1 asks of CRL entries.
        #expect(
            try OCSPRevokedInfo(revokedAt: Date(timeIntervalSince1970: 1_790_000_000), reason: .unspecified)
                .revocationReason == nil)
        // reason 7 is not a CRLReason
        var seven = try Self.der(info)
        seven[seven.count - 1] = 7
        #expect(throws: (any Error).self) { try OCSPRevokedInfo(derEncoded: seven) }
        #expect(throws: (any Error).self) { try OCSPCertStatus(derEncoded: [0x83, 0x00]) }
        #expect(throws: (any Error).self) { try OCSPCertStatus(derEncoded: [0x80, 0x01, 0x00]) }
    }

    @Test("SingleResponse round-trips with nextUpdate and singleExtensions")
    func singleResponse() throws {
        let invalidity = Certificate.Extension(
            oid: [2, 5, 29, 24], critical: false, value: try Self.der(try Self.time(1))[...])
        let response = OCSPSingleResponse(
            certID: Self.certID(),
            certStatus: .revoked(.init(revocationTime: try Self.time(2), revocationReason: .superseded)),
            thisUpdate: try Self.time(3), nextUpdate: try Self.time(4),
            singleExtensions: try Certificate.Extensions([invalidity]))
        #expect(try OCSPSingleResponse(derEncoded: try Self.der(response)) == response)
        let minimal = OCSPSingleResponse(
            certID: Self.certID(.sha256), certStatus: .good, thisUpdate: try Self.time(3), nextUpdate: nil)
        #expect(try OCSPSingleResponse(derEncoded: try Self.der(minimal)) == minimal)
    }

    @Test("ResponderID round-trips byName and byKey, and byKey must be a SHA-1 digest")
    func responderID() throws {
        let name = try DistinguishedName {
            OrganizationName("Acme")
            CommonName("Acme OCSP Responder")
        }
        for id in [OCSPResponderID.byName(name), .byKey([UInt8](repeating: 7, count: 20))] {
            #expect(try OCSPResponderID(derEncoded: try Self.der(id)) == id)
        }
        #expect(
            try Self.der(OCSPResponderID.byKey([UInt8](repeating: 7, count: 20))).prefix(4) == [0xA2, 0x16, 0x04, 0x14])
        #expect(throws: (any Error).self) {
            try OCSPResponderID(derEncoded: try Self.der(OCSPResponderID.byKey([UInt8](repeating: 7, count: 19))))
        }
    }

    @Test("ResponseData round-trips; an encoded version or an empty response list is refused")
    func responseData() throws {
        let data = OCSPResponseData(
            responderID: .byKey([UInt8](repeating: 1, count: 20)), producedAt: try Self.time(5),
            responses: [
                OCSPSingleResponse(
                    certID: Self.certID(), certStatus: .unknown, thisUpdate: try Self.time(5),
                    nextUpdate: try Self.time(6))
            ],
            responseExtensions: try Certificate.Extensions([Self.nonceExtension]))
        let bytes = try Self.der(data)
        #expect(try OCSPResponseData(derEncoded: bytes) == data)
        // The same data with [0] EXPLICIT INTEGER 0 (v1) written out, which DER forbids, or v2.
        for version: UInt8 in [0, 1] {
            var serializer = DER.Serializer()
            try serializer.appendConstructedNode(identifier: .sequence) { coder in
                coder.serializeRawBytes([0xA0, 0x03, 0x02, 0x01, version])
                try coder.serialize(data.responderID)
                try coder.serialize(data.producedAt)
                try coder.serializeSequenceOf(data.responses)
            }
            #expect(throws: (any Error).self) { try OCSPResponseData(derEncoded: serializer.serializedBytes) }
        }
        let empty = OCSPResponseData(
            responderID: .byKey([UInt8](repeating: 1, count: 20)), producedAt: try Self.time(5), responses: [])
        #expect(throws: (any Error).self) { try OCSPResponseData(derEncoded: try Self.der(empty)) }
    }

    @Test("BasicOCSPResponse signs the exact ResponseData DER, round-trips, and detects tampering")
    func basicResponse() async throws {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let data = OCSPResponseData(
            responderID: try OCSPResponderID(keyOf: key.publicKey), producedAt: try Self.time(7),
            responses: [
                OCSPSingleResponse(
                    certID: Self.certID(), certStatus: .good, thisUpdate: try Self.time(7), nextUpdate: try Self.time(8)
                )
            ])
        let root = try OCSPFixtureCertificates.selfSigned()
        let basic = try await OCSPBasicResponse(
            signing: data, with: key, algorithm: .ecdsaWithSHA256, certificates: [root])
        #expect(basic.isSignature(madeBy: key.publicKey))
        #expect(!basic.isSignature(madeBy: Certificate.PrivateKey(P256.Signing.PrivateKey()).publicKey))
        let bytes = try Self.der(basic)
        let parsed = try OCSPBasicResponse(derEncoded: bytes)
        #expect(parsed == basic)
        #expect(parsed.isSignature(madeBy: key.publicKey))
        #expect(parsed.certificates == [root])

        let whole = OCSPResponse(successful: try OCSPResponseBytes(basic))
        let wholeBytes = try whole.derBytes()
        #expect(try OCSPResponse(derEncoded: wholeBytes) == whole)
        #expect(try OCSPResponse(derEncoded: wholeBytes).responseBytes?.basicResponse() == basic)

        // The same signature over data saying something else (good → unknown) does not verify.
        var altered = data
        altered.responses[0].certStatus = .unknown
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(altered)
            try coder.serialize(basic.signatureAlgorithm)
            try coder.serialize(ASN1BitString(bytes: basic.signature[...]))
        }
        let forged = try OCSPBasicResponse(derEncoded: serializer.serializedBytes)
        #expect(!forged.isSignature(madeBy: key.publicKey))
    }

    @Test("the nonce extension holds an OCTET STRING of 1 to 128 octets (RFC 9654), non-critical")
    func nonce() throws {
        // openssl ocsp's 16-octet nonce: extnValue = 04 10 <16 octets>.
        let value = Array(0..<16).map(UInt8.init)
        let ext = Certificate.Extension(
            oid: FleetkeyOID.ocspNonce, critical: false, value: ([0x04, 0x10] + value)[...])
        let nonce = try OCSPNonce(ext)
        #expect(nonce.value == value)
        #expect(try nonce.makeCertificateExtension() == ext)
        #expect(try OCSPNonce([UInt8](repeating: 1, count: 128)).value.count == 128)
        #expect(throws: FleetkeyError.self) { try OCSPNonce([]) }
        #expect(throws: FleetkeyError.self) { try OCSPNonce([UInt8](repeating: 1, count: 129)) }
        // A nonce written raw, without the inner OCTET STRING, is not RFC 9654's encoding.
        let raw = Certificate.Extension(oid: FleetkeyOID.ocspNonce, critical: false, value: value[...])
        #expect(throws: FleetkeyError.self) { try OCSPNonce(raw) }
        let empty = Certificate.Extension(oid: FleetkeyOID.ocspNonce, critical: false, value: [0x04, 0x00])
        #expect(throws: FleetkeyError.self) { try OCSPNonce(empty) }
    }

    @Test("truncated, padded and re-tagged encodings of a request are refused, never crash")
    func truncations() throws {
        let bytes = try OCSPRequest(
            tbsRequest: OCSPTBSRequest(requestList: [OCSPSingleRequest(certID: Self.certID())])
        ).derBytes()
        for length in 0..<bytes.count {
            #expect(throws: (any Error).self) { try OCSPRequest(derEncoded: Array(bytes.prefix(length))) }
        }
        #expect(throws: (any Error).self) { try OCSPRequest(derEncoded: bytes + [0x00]) }
        var set = bytes
        set[0] = 0x31
        #expect(throws: (any Error).self) { try OCSPRequest(derEncoded: set) }
    }
}

/// A small self-signed certificate to put in `certs` fields.
enum OCSPFixtureCertificates {
    static func selfSigned() throws -> Certificate {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let name = try DistinguishedName { CommonName("OCSP structure test") }
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: [0x41, 0x02]), publicKey: key.publicKey,
            notValidBefore: now, notValidAfter: now.addingTimeInterval(86_400), issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: Certificate.Extensions(), issuerPrivateKey: key)
    }
}
