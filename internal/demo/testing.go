package demo

// TB is the part of testing.TB that StartTest uses: this package stays
// free of the testing package, which cmd/algd would otherwise link in.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Cleanup(func())
}

// StartTest is Start for a test: an error fails t, and the server is
// closed at cleanup (an error closing it fails t too).
func StartTest(t TB, o Options) *Server {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatalf("demo.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("demo Close: %v", err)
		}
	})
	return s
}
