import FleetkeyCore
import Foundation
import Synchronization

/// The factory line's elements on one PKCS#11 token (a bench of secure elements, or SoftHSM2 standing in for one):
/// each element is its own set of objects on the token (see ``PKCS11SecureElement``).
///
/// It connects and logs in once, on first use, and every element shares that session: a login can cost a token
/// a slow PIN derivation (SoftHSM2's does), which per device would dominate a factory run.
package final class PKCS11ElementSource: SecureElementSource {
    package let token: PKCS11URI
    /// The modules it may load (``PKCS11ModuleAllowList``); the token's module must be one.
    package let allowedModules: PKCS11ModuleAllowList
    let environment: [String: String]
    private let connection = Mutex<(token: PKCS11Token, pin: PKCS11PIN)?>(nil)

    package init(
        token: PKCS11URI, allowedModules: PKCS11ModuleAllowList,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.token = token
        self.allowedModules = allowedModules
        self.environment = environment
    }

    private func connected() throws -> (token: PKCS11Token, pin: PKCS11PIN) {
        try connection.withLock { connection in
            if let connection { return connection }
            let made = try PKCS11KeyCustody(allowedModules: allowedModules, environment: environment).connect(token)
            connection = made
            return made
        }
    }

    package var description: String { "secure elements on PKCS#11 token \(token)" }

    package func existingElement(_ elementID: String) throws -> (any SecureElement)? {
        do {
            let (token, pin) = try connected()
            return try PKCS11SecureElement.open(on: token, pin: pin, elementID: elementID)
        } catch let error as FleetkeyError where error.code == .notFound && error.reason.hasPrefix("no secure element")
        {
            return nil
        }
    }

    package func newElement(_ elementID: String) throws -> any SecureElement {
        let (token, pin) = try connected()
        return try PKCS11SecureElement.create(on: token, pin: pin, elementID: elementID)
    }
}
