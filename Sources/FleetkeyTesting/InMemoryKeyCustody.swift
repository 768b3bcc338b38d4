import Crypto
import FleetkeyCore
import SwiftASN1
import Synchronization
import X509
import _CryptoExtras

/// Key custody that keeps keys in process memory: for tests of the core and for throwaway CAs.
public final class InMemoryKeyCustody: KeyCustody {
    private let keys = Mutex<[String: Certificate.PrivateKey]>([:])
    public var kind: KeyCustodyKind { .softwareKeystore }

    public init() {}

    public func generateKey(_ spec: KeySpec, label: String) async throws -> CustodiedKey {
        let key: Certificate.PrivateKey
        switch spec.family {
        case .ecdsaP256: key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        case .ecdsaP384: key = Certificate.PrivateKey(P384.Signing.PrivateKey())
        case .ecdsaP521: key = Certificate.PrivateKey(P521.Signing.PrivateKey())
        case .ed25519: key = Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
        case .rsa: key = Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .init(bitCount: spec.bits)))
        }
        let reference = "memory:\(label)"
        try keys.withLock { keys in
            guard keys[reference] == nil else { throw FleetkeyError(.alreadyExists, "key '\(label)' exists") }
            keys[reference] = key
        }
        return CustodiedKey(reference: reference, publicKey: key.publicKey, spec: spec)
    }

    public func signingKey(_ reference: String) async throws -> Certificate.PrivateKey {
        guard let key = keys.withLock({ $0[reference] }) else {
            throw FleetkeyError(.notFound, "no key \(reference) in memory custody")
        }
        return key
    }

    public func destroyKey(_ reference: String) async throws {
        keys.withLock { _ = $0.removeValue(forKey: reference) }
    }
}
