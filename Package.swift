// swift-tools-version:6.1
import PackageDescription

/// Settings every Fleetkey target shares: Swift 6 mode plus the upcoming features the style guide asks for.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "fleetkey",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fleetkey", targets: ["FleetkeyCLI"]),
        .executable(name: "fleetkey-bench", targets: ["FleetkeyBench"]),
        .library(name: "FleetkeyCore", targets: ["FleetkeyCore"]),
        .library(name: "FleetkeyTesting", targets: ["FleetkeyTesting"]),
        .library(name: "FleetkeyDevice", targets: ["FleetkeyDevice"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // Already resolved through Hummingbird; declared for the HTTP part types the server's connection limits see.
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        // Already resolved through Hummingbird; declared for the header names EST answers with.
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // The rules: domain types, lifecycle, policy, profiles and the CA engine. No I/O.
        .target(
            name: "FleetkeyCore",
            dependencies: [
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // The registry's operations and statements, written once for every SQL store; the stores only run them.
        .target(
            name: "FleetkeyRegistrySQL",
            dependencies: [
                "FleetkeyCore",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strictSettings
        ),
        // The embedded registry: SQLite through GRDB, behind the core's RegistryStore protocol.
        .target(
            name: "FleetkeySQLite",
            dependencies: [
                "FleetkeyCore",
                "FleetkeyRegistrySQL",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: strictSettings
        ),
        // The scale-out registry: PostgreSQL through postgres-nio, behind the same RegistryStore protocol.
        .target(
            name: "FleetkeyPostgres",
            dependencies: [
                "FleetkeyCore",
                "FleetkeyRegistrySQL",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The PKCS#11 C API, from p11-kit's pkcs11.h (Debian: libp11-kit-dev); modules are loaded with dlopen.
        .systemLibrary(
            name: "CPKCS11",
            pkgConfig: "p11-kit-1",
            providers: [.apt(["libp11-kit-dev"])]
        ),
        // Key custody in PKCS#11 tokens (HSM, TPM, secure element), and the secure-element model.
        .target(
            name: "FleetkeyPKCS11",
            dependencies: [
                "FleetkeyCore",
                "CPKCS11",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // `fleetkey serve`: HTTP handlers (OCSP, CRL, EST, REST) that decode, call the core, encode.
        .target(
            name: "FleetkeyServer",
            dependencies: [
                "FleetkeyCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // The device SDK: an EST client whose keys stay in the device's secure element, enrollment and renewal.
        .target(
            name: "FleetkeyDevice",
            dependencies: [
                "FleetkeyCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strictSettings
        ),
        // Key custody: the encrypted software keystore (embedded default).
        .target(
            name: "FleetkeyCustody",
            dependencies: [
                "FleetkeyCore",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // The `fleetkey` command: wires the store and custody into the core.
        .executableTarget(
            name: "FleetkeyCLI",
            dependencies: [
                "FleetkeyCore",
                "FleetkeySQLite",
                "FleetkeyCustody",
                "FleetkeyPostgres",
                "FleetkeyPKCS11",
                "FleetkeyServer",
                "FleetkeyDevice",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // Fakes that tests and users both need: fixed clock, seeded randomness, in-memory store, throwaway CA.
        .target(
            name: "FleetkeyTesting",
            dependencies: [
                "FleetkeyCore",
                "FleetkeySQLite",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "FleetkeyBench",
            dependencies: [
                "FleetkeyCore",
                "FleetkeySQLite",
                "FleetkeyCustody",
                "FleetkeyTesting",
                "FleetkeyServer",
                "FleetkeyPostgres",
                "FleetkeyPKCS11",
                "FleetkeyDevice",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "FleetkeyCoreTests",
            dependencies: [
                "FleetkeyCore", "FleetkeyTesting",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            resources: [.copy("Resources")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "FleetkeySQLiteTests",
            dependencies: [
                "FleetkeyCore", "FleetkeySQLite", "FleetkeyCustody", "FleetkeyTesting",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // Every store test, run against SQLite and a real PostgreSQL server (started by scripts/test), plus several
        // `fleetkey` processes on one database.
        .testTarget(
            name: "FleetkeyStoreConformanceTests",
            dependencies: [
                "FleetkeyCore", "FleetkeySQLite", "FleetkeyPostgres", "FleetkeyCustody", "FleetkeyTesting",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // PKCS#11 custody and the secure-element model, against a real SoftHSM2 token in a temporary token directory.
        .testTarget(
            name: "FleetkeyPKCS11Tests",
            dependencies: [
                "FleetkeyCore", "FleetkeyPKCS11", "FleetkeyCustody", "FleetkeySQLite", "FleetkeyTesting", "CPKCS11",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // Route-level tests of `fleetkey serve`: its routes through Hummingbird's test client, and live over sockets.
        .testTarget(
            name: "FleetkeyServerTests",
            dependencies: [
                "FleetkeyCore", "FleetkeyServer", "FleetkeySQLite", "FleetkeyCustody", "FleetkeyTesting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "FleetkeyIntegrationTests",
            dependencies: [
                "FleetkeyCore", "FleetkeyTesting", "FleetkeyCustody", "FleetkeySQLite", "FleetkeyDevice",
                "FleetkeyPKCS11",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
