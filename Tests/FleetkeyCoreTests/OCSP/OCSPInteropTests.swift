import FleetkeyCore
import FleetkeyTesting
import Foundation
import SwiftASN1
import Testing
import X509

/// The responder against independent implementations: requests written by openssl, answers checked by openssl,
/// GnuTLS ocsptool and pkilint (installed by scripts/setup-verifiers; a missing tool fails the test).
@Suite("OCSP interoperability: openssl, ocsptool, pkilint")
struct OCSPInteropTests {
    /// A vendor CA with one good, one revoked and one unknown device, its PEM files, and a responder.
    struct World {
        let fixture: OCSPFixture
        let responder: OCSPResponder
        let directory: URL
        var good: Certificate { fixture.devices[0] }
        var revoked: Certificate { fixture.devices[1] }
        var unknown: Certificate { fixture.devices[2] }

        static func make() async throws -> World {
            let fixture = try await OCSPFixture.make(devices: 3)
            fixture.markGood(fixture.devices[0])
            fixture.markRevoked(
                fixture.devices[1], at: fixture.clock.now().addingTimeInterval(-60), reason: .keyCompromise,
                invalidity: fixture.clock.now().addingTimeInterval(-3600))
            let directory = try ExternalTool.temporaryDirectory()
            try fixture.vendorCA.pemString().write(
                to: directory.appendingPathComponent("ca.pem"), atomically: true, encoding: .utf8)
            try (fixture.root.pemString() + "\n" + fixture.vendorCA.pemString())
                .write(to: directory.appendingPathComponent("chain.pem"), atomically: true, encoding: .utf8)
            return World(fixture: fixture, responder: try fixture.responder(), directory: directory)
        }

        func file(_ name: String) -> String { directory.appendingPathComponent(name).path }

        func write(_ bytes: [UInt8], to name: String) throws {
            try Data(bytes).write(to: directory.appendingPathComponent(name))
        }

        func read(_ name: String) throws -> [UInt8] {
            Array(try Data(contentsOf: directory.appendingPathComponent(name)))
        }

        /// `openssl ocsp -issuer ca.pem -serial 0x… -reqout NAME`, with openssl's nonce unless `nonce` is false.
        func opensslRequest(_ certificates: [Certificate], digest: String, nonce: Bool, name: String) throws -> [UInt8]
        {
            var arguments = ["ocsp", "-issuer", file("ca.pem"), "-\(digest)"]
            for certificate in certificates { arguments += ["-serial", "0x" + certificate.serialNumber.hexString] }
            arguments += ["-reqout", file(name)] + (nonce ? [] : ["-no_nonce"])
            let result = try ExternalTool.run("openssl", arguments, in: directory)
            #expect(result.status == 0, "openssl ocsp -reqout: \(result.output)")
            return try read(name)
        }

        func cleanup() { try? FileManager.default.removeItem(at: directory) }
    }

    @Test(
        "openssl's requests (SHA-1, SHA-256, with and without nonce) are answered; openssl verifies the answers",
        arguments: ["sha1", "sha256"])
    func openssl(_ digest: String) async throws {
        let world = try await World.make()
        defer { world.cleanup() }
        for (certificate, word) in [(world.good, "good"), (world.revoked, "revoked"), (world.unknown, "unknown")] {
            let hex = "0x" + certificate.serialNumber.hexString
            // Without a nonce: the cached form; openssl matches the answer to its own CertID for the serial.
            let plain = try world.opensslRequest([certificate], digest: digest, nonce: false, name: "plain.der")
            // Fleetkey's request builder writes the very same octets as openssl for the same question.
            let hash: OCSPHashAlgorithm = digest == "sha1" ? .sha1 : .sha256
            #expect(
                plain
                    == (try OCSPRequestBuilder.requestDER(
                        issuer: world.fixture.vendorCA, serial: certificate.serialNumber, hash: hash)))
            let plainAnswer = await world.responder.respond(to: plain)
            #expect(plainAnswer.responseStatus == .successful)
            try world.write(plainAnswer.der, to: "plain-resp.der")
            let checked = try ExternalTool.run(
                "openssl",
                [
                    "ocsp", "-respin", world.file("plain-resp.der"), "-issuer", world.file("ca.pem"), "-CAfile",
                    world.file("chain.pem"), "-\(digest)", "-serial", hex, "-no_nonce",
                ],
                in: world.directory)
            #expect(checked.status == 0, "\(word): \(checked.output)")
            #expect(checked.output.contains("Response verify OK"), "\(word): \(checked.output)")
            #expect(checked.output.contains("\(hex): \(word)"), "\(word): \(checked.output)")
            if certificate == world.revoked {
                #expect(checked.output.contains("Reason: keyCompromise"), "\(checked.output)")
                #expect(checked.output.contains("Revocation Time:"), "\(checked.output)")
            }

            // With openssl's nonce: the answer is signed on the spot and openssl checks the echo.
            let withNonce = try world.opensslRequest([certificate], digest: digest, nonce: true, name: "nonce.der")
            let nonceAnswer = await world.responder.respond(to: withNonce)
            #expect(nonceAnswer.echoesNonce)
            try world.write(nonceAnswer.der, to: "nonce-resp.der")
            let nonceChecked = try ExternalTool.run(
                "openssl",
                [
                    "ocsp", "-reqin", world.file("nonce.der"), "-respin", world.file("nonce-resp.der"), "-issuer",
                    world.file("ca.pem"), "-CAfile", world.file("chain.pem"), "-resp_text",
                ],
                in: world.directory)
            #expect(nonceChecked.status == 0, "\(word) with nonce: \(nonceChecked.output)")
            #expect(nonceChecked.output.contains("Response verify OK"), "\(nonceChecked.output)")
            #expect(nonceChecked.output.contains("Cert Status: \(word)"), "\(nonceChecked.output)")
            #expect(nonceChecked.output.contains("OCSP Nonce"), "\(nonceChecked.output)")
            #expect(!nonceChecked.output.contains("WARNING"), "\(nonceChecked.output)")
        }
    }

    @Test("a multi-certificate request from openssl gets one answer openssl verifies for every serial")
    func opensslMultiple() async throws {
        let world = try await World.make()
        defer { world.cleanup() }
        let certificates = [world.good, world.revoked, world.unknown]
        let request = try world.opensslRequest(certificates, digest: "sha1", nonce: false, name: "multi.der")
        try world.write(await world.responder.respond(to: request).der, to: "multi-resp.der")
        let checked = try ExternalTool.run(
            "openssl",
            [
                "ocsp", "-respin", world.file("multi-resp.der"), "-issuer", world.file("ca.pem"), "-CAfile",
                world.file("chain.pem"), "-no_nonce",
            ] + certificates.flatMap { ["-serial", "0x" + $0.serialNumber.hexString] },
            in: world.directory)
        #expect(checked.output.contains("Response verify OK"), "\(checked.output)")
        for (certificate, word) in zip(certificates, ["good", "revoked", "unknown"]) {
            #expect(checked.output.contains("0x\(certificate.serialNumber.hexString): \(word)"), "\(checked.output)")
        }
    }

    @Test("openssl rejects an answer whose signature was tampered with (the check above can fail)")
    func opensslNegativeControl() async throws {
        let world = try await World.make()
        defer { world.cleanup() }
        let request = try world.opensslRequest([world.good], digest: "sha1", nonce: false, name: "req.der")
        let good = try OCSPResponse(derEncoded: await world.responder.respond(to: request).der).responseBytes!
            .basicResponse()
        let otherRequest = try OCSPRequestBuilder.requestDER(
            issuer: world.fixture.vendorCA, serial: world.unknown.serialNumber)
        let other = try OCSPResponse(derEncoded: await world.responder.respond(to: otherRequest).der).responseBytes!
            .basicResponse()
        // The good answer's data under the signature of another answer: a real signature by the right key, over
        // other bytes.
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { coder in
            coder.serializeRawBytes(good.responseDataBytes)
            try coder.serialize(good.signatureAlgorithm)
            try coder.serialize(ASN1BitString(bytes: other.signature[...]))
            try coder.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { coder in
                try coder.serializeSequenceOf(good.certificates ?? [])
            }
        }
        let der = try OCSPResponse(
            successful: OCSPResponseBytes(
                responseType: FleetkeyOID.ocspBasicResponse, response: serializer.serializedBytes[...])
        ).derBytes()
        try world.write(der, to: "bad-resp.der")
        let checked = try ExternalTool.run(
            "openssl",
            [
                "ocsp", "-respin", world.file("bad-resp.der"), "-issuer", world.file("ca.pem"), "-CAfile",
                world.file("chain.pem"), "-serial", "0x" + world.good.serialNumber.hexString, "-no_nonce",
            ],
            in: world.directory)
        #expect(!checked.output.contains("Response verify OK"), "\(checked.output)")
    }

    @Test("GnuTLS ocsptool verifies the answers against the CA and reads their statuses")
    func ocsptool() async throws {
        let world = try await World.make()
        defer { world.cleanup() }
        for (certificate, word) in [(world.good, "good"), (world.revoked, "revoked"), (world.unknown, "unknown")] {
            let request = try OCSPRequestBuilder.requestDER(
                issuer: world.fixture.vendorCA, serial: certificate.serialNumber)
            try world.write(await world.responder.respond(to: request).der, to: "resp.der")
            let verified = try ExternalTool.run(
                "ocsptool",
                [
                    "--verify-response", "--load-signer", world.file("ca.pem"), "--load-response",
                    world.file("resp.der"), "--inder",
                ],
                in: world.directory)
            #expect(verified.status == 0, "\(word): \(verified.output)")
            #expect(verified.output.contains("Verifying OCSP Response: Success"), "\(word): \(verified.output)")
            let info = try ExternalTool.run(
                "ocsptool", ["--response-info", "--load-response", world.file("resp.der"), "--inder"],
                in: world.directory)
            #expect(info.output.contains("Certificate Status: \(word)"), "\(word): \(info.output)")
        }
    }

    @Test("pkilint's lint_ocsp_response reports nothing at WARNING for good, revoked, unknown, nonce and error answers")
    func pkilint() async throws {
        let world = try await World.make()
        defer { world.cleanup() }
        let lint = ExternalTool.verifierBin + "/lint_ocsp_response"
        var answers: [(String, [UInt8])] = []
        for (certificate, word) in [(world.good, "good"), (world.revoked, "revoked"), (world.unknown, "unknown")] {
            let request = try OCSPRequestBuilder.requestDER(
                issuer: world.fixture.vendorCA, serial: certificate.serialNumber)
            answers.append((word, await world.responder.respond(to: request).der))
        }
        let nonce = try OCSPNonce([UInt8](repeating: 0x33, count: 32))
        let nonceRequest = try OCSPRequestBuilder.requestDER(
            issuer: world.fixture.vendorCA, serial: world.good.serialNumber, hash: .sha256, nonce: nonce)
        answers.append(("nonce", await world.responder.respond(to: nonceRequest).der))
        answers.append(("malformedRequest", await world.responder.respond(to: [0x30, 0x00]).der))
        for (name, der) in answers {
            try world.write(der, to: "\(name).der")
            let result = try ExternalTool.run(
                lint, ["lint", "-s", "WARNING", world.file("\(name).der")], in: world.directory)
            #expect(result.status == 0, "\(name): \(result.output)")
            #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(name): \(result.output)")
        }
    }
}
