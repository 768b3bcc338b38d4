import FleetkeyCore
import Foundation

/// The factory line's elements on one PKCS#11 token (a bench of secure elements, or SoftHSM2 standing in for one):
/// each element is its own set of objects on the token (see ``PKCS11SecureElement``).
public struct PKCS11ElementSource: SecureElementSource {
    public let token: PKCS11URI
    let environment: [String: String]

    public init(token: PKCS11URI, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.token = token
        self.environment = environment
    }

    public var description: String { "secure elements on PKCS#11 token \(token)" }

    public func existingElement(_ elementID: String) throws -> (any SecureElement)? {
        do {
            return try PKCS11SecureElement.open(token: token, elementID: elementID, environment: environment)
        } catch let error as FleetkeyError where error.code == .notFound && error.reason.hasPrefix("no secure element") {
            return nil
        }
    }

    public func newElement(_ elementID: String) throws -> any SecureElement {
        try PKCS11SecureElement.create(token: token, elementID: elementID, environment: environment)
    }
}
