// Package soak is the project's fault campaign (`make soak`; a CI-sized run is part of `make
// test`): events pushed through the whole local stack (scripts/internal/devserver on the
// emulators) while everything that can go wrong does — malformed messages and re-sends from the
// producer, key rotation and revocation and reclassification by the owner, destinations that
// fail in every way shared/faults offers, and DynamoDB, SNS and KMS errors and throttling
// injected into the pipeline's own AWS calls (faults.AWS) — followed by one accounting line per
// destination: delivered, rejected with reason, dead-lettered with reason, lost, duplicated
// beyond re-sends, protected values found in clear. The campaign fails unless nothing is lost and
// nothing is in clear. The campaign itself is TestSoakCampaign in soak_test.go; this package
// has no other code.
package soak
