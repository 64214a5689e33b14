package lenient

import "testing"

func TestIntReadsEveryFormSuperOfficeSends(t *testing.T) {
	for _, tt := range []struct {
		raw     string
		want    int64
		present bool
		err     bool
	}{
		{`42`, 42, true, false}, {`42.0`, 42, true, false}, {`"42"`, 42, true, false}, {`"[I:42]"`, 42, true, false},
		{`-7`, -7, true, false}, {``, 0, false, false}, {`null`, 0, false, false}, {`""`, 0, false, false},
		{`4.5`, 0, false, true}, {`"x"`, 0, false, true}, {`true`, 0, false, true}, {`"1e400"`, 0, false, true},
	} {
		got, present, err := Int([]byte(tt.raw))
		if got != tt.want || present != tt.present || (err != nil) != tt.err {
			t.Errorf("Int(%s) = %d, %v, %v; want %d, %v, error %v", tt.raw, got, present, err, tt.want, tt.present, tt.err)
		}
	}
}

func TestBoolReadsEveryFormSuperOfficeSends(t *testing.T) {
	for _, tt := range []struct {
		raw           string
		want, present bool
		err           bool
	}{
		{`true`, true, true, false}, {`1`, true, true, false}, {`"1"`, true, true, false}, {`"[B:1]"`, true, true, false},
		{`false`, false, true, false}, {`0`, false, true, false}, {`"False"`, false, true, false}, {`"[B:0]"`, false, true, false},
		{`null`, false, false, false}, {`""`, false, false, false}, {`2`, false, false, true}, {`"-0"`, false, false, true},
	} {
		got, present, err := Bool([]byte(tt.raw))
		if got != tt.want || present != tt.present || (err != nil) != tt.err {
			t.Errorf("Bool(%s) = %v, %v, %v; want %v, %v, error %v", tt.raw, got, present, err, tt.want, tt.present, tt.err)
		}
	}
}
