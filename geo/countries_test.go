package geo_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/meridian-dns/meridian/geo"
)

// isoCodes is every ISO 3166-1 alpha-2 code (249) plus XK.
const isoCodes = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ " +
	"BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM " +
	"DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS " +
	"GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN " +
	"KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ " +
	"MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM " +
	"PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV " +
	"SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI " +
	"VN VU WF WS XK YE YT ZA ZM ZW"

func TestCountryTableComplete(t *testing.T) {
	n := 0
	for i := 0; i+2 <= len(isoCodes); i += 3 {
		cc := isoCodes[i : i+2]
		n++
		lat, lon, ok := geo.CountryCentroid(cc)
		if !ok {
			t.Errorf("CountryCentroid(%s) missing", cc)
			continue
		}
		if lat < -90 || lat > 90 || lon < -180 || lon > 180 {
			t.Errorf("CountryCentroid(%s) = %v, %v out of range", cc, lat, lon)
		}
		cont, ok := geo.CountryContinent(cc)
		if !ok || !geo.IsContinent(cont) {
			t.Errorf("CountryContinent(%s) = %q, %v", cc, cont, ok)
		}
	}
	if n != 250 {
		t.Errorf("test list has %d codes, want 250", n)
	}
}

func TestCountryLookups(t *testing.T) {
	tests := []struct {
		cc            string
		wantContinent string
		wantOK        bool
	}{
		{"US", "NA", true},
		{"us", "NA", true},
		{"De", "EU", true},
		{"TR", "AS", true},
		{"RU", "EU", true},
		{"EG", "AF", true},
		{"BR", "SA", true},
		{"NZ", "OC", true},
		{"AQ", "AN", true},
		{"XK", "EU", true},
		{"EU", "", false},
		{"A1", "", false},
		{"??", "", false},
		{"", "", false},
		{"USA", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.cc, func(t *testing.T) {
			got, ok := geo.CountryContinent(tt.cc)
			if got != tt.wantContinent || ok != tt.wantOK {
				t.Errorf("CountryContinent(%q) = %q, %v, want %q, %v", tt.cc, got, ok, tt.wantContinent, tt.wantOK)
			}
			if _, _, ok := geo.CountryCentroid(tt.cc); ok != tt.wantOK {
				t.Errorf("CountryCentroid(%q) ok = %v", tt.cc, ok)
			}
			if geo.IsCountry(tt.cc) != tt.wantOK {
				t.Errorf("IsCountry(%q) = %v", tt.cc, !tt.wantOK)
			}
		})
	}
}

func TestContinentCentroid(t *testing.T) {
	tests := []struct {
		code    string
		wantOK  bool
		minLat  float64
		maxLat  float64
		minLon  float64
		maxLon  float64
		comment string
	}{
		{"AF", true, -35, 37, -18, 52, "inside Africa's bounding box"},
		{"AN", true, -90, -60, -180, 180, "south of 60°S"},
		{"AS", true, -11, 78, 25, 180, "inside Asia's bounding box"},
		{"eu", true, 35, 72, -25, 45, "inside Europe's bounding box"},
		{"NA", true, 7, 84, -170, -50, "inside North America's bounding box"},
		{"OC", true, -48, 20, 110, 180, "inside Oceania's bounding box"},
		{"SA", true, -56, 13, -82, -34, "inside South America's bounding box"},
		{"XX", false, 0, 0, 0, 0, "unknown code"},
		{"", false, 0, 0, 0, 0, "empty code"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			lat, lon, ok := geo.ContinentCentroid(tt.code)
			if ok != tt.wantOK {
				t.Fatalf("ContinentCentroid(%q) ok = %v, want %v", tt.code, ok, tt.wantOK)
			}
			if ok && (lat < tt.minLat || lat > tt.maxLat || lon < tt.minLon || lon > tt.maxLon) {
				t.Errorf("ContinentCentroid(%q) = %v, %v, want %s", tt.code, lat, lon, tt.comment)
			}
		})
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		wantKm                 float64
	}{
		{"London-Paris", 51.5074, -0.1278, 48.8566, 2.3522, 343.5},
		{"New York-Los Angeles", 40.7128, -74.0060, 34.0522, -118.2437, 3936},
		{"Sydney-Singapore", -33.8688, 151.2093, 1.3521, 103.8198, 6300},
		{"Frankfurt-Ashburn", 50.1109, 8.6821, 39.0438, -77.4874, 6540},
		{"across the antimeridian", 0, 179.5, 0, -179.5, 111.2},
		{"pole to pole", 90, 0, -90, 0, math.Pi * geo.EarthRadiusKm},
		{"antipodes", 0, 0, 0, 180, math.Pi * geo.EarthRadiusKm},
		{"same point", 1.3521, 103.8198, 1.3521, 103.8198, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := geo.Distance(tt.lat1, tt.lon1, tt.lat2, tt.lon2)
			if math.IsNaN(got) || math.Abs(got-tt.wantKm) > 0.01*tt.wantKm+1e-9 {
				t.Errorf("Distance = %.1f km, want %.1f km ±1%%", got, tt.wantKm)
			}
			if back := geo.Distance(tt.lat2, tt.lon2, tt.lat1, tt.lon1); math.Abs(back-got) > 1e-9 {
				t.Errorf("Distance is not symmetric: %v vs %v", got, back)
			}
		})
	}
}

// TestPointRanksLikeDistance: the dot product of unit-sphere points ranks
// pairs of places exactly as the haversine distance does, and gives back
// the distance as an angle.
func TestPointRanksLikeDistance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	place := func() (float64, float64) { return rng.Float64()*180 - 90, rng.Float64()*360 - 180 }
	for range 20000 {
		lat, lon := place()
		lat1, lon1 := place()
		lat2, lon2 := place()
		here := geo.PointAt(lat, lon)
		d1, d2 := geo.Distance(lat, lon, lat1, lon1), geo.Distance(lat, lon, lat2, lon2)
		dot1, dot2 := here.Dot(geo.PointAt(lat1, lon1)), here.Dot(geo.PointAt(lat2, lon2))
		if math.Abs(d1-d2) > 1e-6 && (d1 < d2) != (dot1 > dot2) {
			t.Fatalf("from %v,%v: distances %v, %v km but dot products %v, %v", lat, lon, d1, d2, dot1, dot2)
		}
		if angle := math.Acos(math.Max(-1, math.Min(1, dot1))) * geo.EarthRadiusKm; math.Abs(angle-d1) > 1e-3 {
			t.Fatalf("from %v,%v to %v,%v: %v km by dot product, %v km by haversine", lat, lon, lat1, lon1, angle, d1)
		}
	}
}
