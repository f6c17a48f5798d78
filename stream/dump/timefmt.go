package dump

import (
	"math"
	"strconv"
	"time"
)

// glibc's localtime_r fails (EOVERFLOW) when the local year minus 1900
// does not fit struct tm's int tm_year. These are the first and last
// second (UTC) of the years 1900+MinInt32 and 1900+MaxInt32; anything more
// than two days beyond them fails in every zone, which keeps time.Unix away
// from int64 overflow.
const (
	minLocalSec = -67768040609740800 // -2147481748-01-01T00:00:00
	maxLocalSec = 67768036191676799  // 2147485547-12-31T23:59:59
	guardSec    = 2 * 86400
)

// appendTime appends sec formatted as progs does with
// strftime("%FT%T%z", localtime_r(sec)) under glibc, or reports false where
// localtime_r fails. Differences from Go's own formatting: years are not
// padded ("999", "0", "-1"), a year beyond MaxInt32 wraps around because
// glibc adds 1900 to tm_year in int arithmetic, and %z drops the seconds of
// an offset (LMT -4:56:02 prints "-0456").
func appendTime(b []byte, sec int64, loc *time.Location) ([]byte, bool) {
	if sec < minLocalSec-guardSec || sec > maxLocalSec+guardSec {
		return b, false
	}
	off := zoneOffset(sec, loc)
	days, tod := floorDiv(sec+int64(off), 86400)
	y, m, d := civil(days)
	tmYear := y - 1900
	if tmYear < math.MinInt32 || tmYear > math.MaxInt32 {
		return b, false
	}
	year := int32(tmYear) + 1900 // wraps like glibc's int addition
	b = strconv.AppendInt(b, int64(year), 10)
	b = append(b, '-')
	b = append2(b, m)
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, 'T')
	b = append2(b, int(tod/3600))
	b = append(b, ':')
	b = append2(b, int(tod/60%60))
	b = append(b, ':')
	b = append2(b, int(tod%60))
	z := off
	if z < 0 {
		b = append(b, '-')
		z = -z
	} else {
		b = append(b, '+')
	}
	z /= 60
	hhmm := z/60*100 + z%60
	if hhmm < 1000 {
		b = append(b, '0')
		if hhmm < 100 {
			b = append(b, '0')
			if hhmm < 10 {
				b = append(b, '0')
			}
		}
	}
	return strconv.AppendInt(b, int64(hhmm), 10), true
}

func append2(b []byte, v int) []byte {
	return append(b, byte('0'+v/10), byte('0'+v%10))
}

func floorDiv(a, n int64) (q, r int64) {
	q, r = a/n, a%n
	if r < 0 {
		q--
		r += n
	}
	return q, r
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (H. Hinnant's days-to-civil), exact for any day count reached here.
func civil(days int64) (year int64, month, day int) {
	z := days + 719468
	era, _ := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day = int(doy - (153*mp+2)/5 + 1)
	month = int(mp + 3)
	if month > 12 {
		month -= 12
	}
	year = yoe + era*400
	if month <= 2 {
		year++
	}
	return year, month, day
}

// zoneOffset returns the UTC offset glibc uses for sec. Past a zone's last
// transition glibc applies the TZif footer rule of the UTC year, counting
// the days to that year's first in int arithmetic. From the year 5881581
// on the count wraps, both changes of the year land in the past, and the
// offset is whichever rules over the turn of the year (standard time in
// the north, summer time in the south); where even the UTC year does not
// fit tm_year glibc takes the last transition's. In both cases that is the
// offset in force at the end of 2037, the last year of explicit
// transitions in "fat" TZif files: so it is for all 447 zones of tzdata
// 2025b, checked against glibc 2.36 around every limit.
const (
	ruleOverflowSec = 185542602134400 // 5881581-01-01T00:00:00Z
	lateSec         = 2145873600      // 2037-12-31T12:00:00Z
)

func zoneOffset(sec int64, loc *time.Location) int {
	if sec >= ruleOverflowSec {
		sec = lateSec
	}
	_, off := time.Unix(sec, 0).In(loc).Zone()
	return off
}
