import FleetkeyCore
import FleetkeyTesting
import Foundation
import Testing

@testable import FleetkeyPKCS11

@Suite("RFC 7512 PKCS#11 URIs")
struct PKCS11URITests {
    @Test("the examples of RFC 7512 §3 parse")
    func rfcExamples() throws {
        let examples = [
            "pkcs11:",
            "pkcs11:object=my-pubkey;type=public",
            "pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
            "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=",
            "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
            "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert",
            "pkcs11:token=my-token;object=my-certificate;type=cert?pin-source=file:/etc/token",
            "pkcs11:slot-description=Sun%20Metaslot",
            "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23",
            "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-source=file:/etc/token",
            "pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1",
            "pkcs11:slot-manufacturer=Snake%20Oil%2C%20Inc.;slot-id=2",
        ]
        for text in examples {
            #expect(throws: Never.self, "\(text)") { try PKCS11URI(parsing: text) }
        }
        let certificate = try PKCS11URI(parsing: examples[3])
        #expect(certificate.token == "The Software PKCS#11 Softtoken")
        #expect(certificate.manufacturer == "Snake Oil, Inc.")
        #expect(certificate.id == [0x69, 0x95, 0x3E, 0x5C, 0xF4, 0xBD, 0xEC, 0x91])
        #expect(certificate.type == .certificate)
        #expect(certificate.serial == "")
        #expect(try PKCS11URI(parsing: examples[4]).token == "A name with a substring %;")
        #expect(try PKCS11URI(parsing: examples[5]).token == "Name with a small A with acute: á")
        #expect(try PKCS11URI(parsing: examples[10]).modulePath == "/mnt/libmypkcs11.so.1")
        #expect(try PKCS11URI(parsing: examples[11]).slotID == 2)
        #expect(try PKCS11URI(parsing: examples[8]).libraryVersion == "1.23")
    }

    @Test("the canonical form round-trips and is what Fleetkey records")
    func canonicalForm() throws {
        let uri = try PKCS11URI(
            parsing:
                "PKCS11:object=root%20key;token=fleet%2Dca;id=%01%ab?pin-source=file:/run/pin&module-path=/usr/lib/softhsm/libsofthsm2.so"
        )
        #expect(
            uri.description
                == "pkcs11:token=fleet-ca;object=root%20key;id=%01%AB?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin"
        )
        #expect(try PKCS11URI(parsing: uri.description) == uri)
        let semicolon = PKCS11URI(token: "a;b", object: "x&y?z", modulePath: "/m.so")
        #expect(semicolon.description == "pkcs11:token=a%3Bb;object=x%26y%3Fz?module-path=/m.so")
        #expect(try PKCS11URI(parsing: semicolon.description) == semicolon)
    }

    @Test("a PIN in the URI is refused, and the refusal does not repeat it")
    func pinValueRefused() throws {
        let error = try #require(throws: FleetkeyError.self) {
            try PKCS11URI(parsing: "pkcs11:token=t;object=o?pin-value=SuperSecret-4711&module-path=/m.so")
        }
        #expect(error.code == .invalidArgument)
        #expect(!error.reason.contains("SuperSecret-4711"))
        #expect(error.reason.contains("FLEETKEY_PKCS11_PIN"))
    }

    @Test(
        "bad URIs name the attribute and the rule",
        arguments: [
            ("pkcs11:token=a;token=b", "more than once"),
            ("pkcs11:colour=blue", "unknown path attribute 'colour'"),
            ("pkcs11:token=a?module-name=softhsm2", "module-name"),
            ("pkcs11:token=a?foo=bar", "unknown query attribute 'foo'"),
            ("pkcs11:token", "name=value"),
            ("pkcs11:token=a%2", "percent-encoding"),
            ("pkcs11:token=a b", "must be percent-encoded"),
            ("pkcs11:type=secret", "type must be"),
            ("pkcs11:slot-id=two", "slot-id"),
            ("pkcs11:id=", "id must not be empty"),
            ("pkcs11:token=%FF", "not UTF-8"),
            ("keystore:root", "pkcs11: URI"),
        ])
    func badURIs(text: String, expected: String) throws {
        let error = try #require(throws: FleetkeyError.self) { try PKCS11URI(parsing: text) }
        #expect(error.code == .invalidArgument)
        #expect(error.reason.contains(expected), "\(error.reason)")
    }

    @Test("a PIN comes from pin-source or FLEETKEY_PKCS11_PIN, and a shared pin file is refused")
    func pinSources() throws {
        let directory = try TemporaryDirectory()
        let file = directory.url.appendingPathComponent("pin")
        try "1234-from-file\n".write(to: file, atomically: true, encoding: .utf8)
        let uri = PKCS11URI(token: "t", object: "o", modulePath: "/m.so", pinSource: "file:" + file.path)

        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
        let shared = try #require(throws: FleetkeyError.self) { try PKCS11PIN.resolve(for: uri, environment: [:]) }
        #expect(shared.code == .keyAccessDenied)
        #expect(shared.reason.contains("chmod 600"))
        #expect(!shared.reason.contains("1234-from-file"))

        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
        #expect(try PKCS11PIN.resolve(for: uri, environment: [:]).bytes == Array("1234-from-file".utf8))
        var tripleSlash = uri
        tripleSlash.pinSource = "file://" + file.path
        #expect(try PKCS11PIN.resolve(for: tripleSlash, environment: [:]).bytes == Array("1234-from-file".utf8))

        let fromEnvironment = try PKCS11PIN.resolve(
            for: PKCS11URI(token: "t"), environment: ["FLEETKEY_PKCS11_PIN": "9876"])
        #expect(fromEnvironment.bytes == Array("9876".utf8))
        #expect("\(fromEnvironment)" == "<PIN redacted>")
        #expect(String(reflecting: fromEnvironment) == "<PIN redacted>")
        var dumped = ""
        dump(fromEnvironment, to: &dumped)
        #expect(!dumped.contains("9876"))

        let none = try #require(throws: FleetkeyError.self) {
            try PKCS11PIN.resolve(for: PKCS11URI(token: "t"), environment: [:])
        }
        #expect(none.code == .keyAccessDenied)
        #expect(none.reason.contains("FLEETKEY_PKCS11_PIN"))
    }
}
