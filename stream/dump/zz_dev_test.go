package dump

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

func TestDevTimes(t *testing.T) {
	loc, err := time.LoadLocation(os.Getenv("DEVTZ"))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open("/tmp/ct/vals")
	out, _ := os.Create("/tmp/ct/go.out")
	w := bufio.NewWriter(out)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, _ := strconv.ParseInt(sc.Text(), 10, 64)
		b, ok := appendTime(nil, v, loc)
		if !ok {
			fmt.Fprintf(w, "%d FAIL\n", v)
		} else {
			fmt.Fprintf(w, "%d %s\n", v, b)
		}
	}
	w.Flush()
	out.Close()
}
