//! Evidence bundles: format and offline verification (issue 5; being built).
