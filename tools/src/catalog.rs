//! Service items from government spreadsheets (issue 5; being built).
