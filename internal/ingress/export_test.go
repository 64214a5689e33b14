package ingress

import "testing"

// ReceiverSeries counts the request metrics' series of receiver ("namespace/name").
func ReceiverSeries(t testing.TB, receiver string) int { return receiverSeries(t, receiver) }
