package geo

import "sort"

// country is one row of the built-in ISO 3166-1 table: the continent a
// country belongs to and a representative point for it.
type country struct {
	continent string
	lat, lon  float64
}

// countries maps every ISO 3166-1 alpha-2 code, plus XK (Kosovo, which
// GeoIP databases use), to its continent and representative point.
//
// The point is the capital city, which is where most of a country's
// resolver traffic comes from and is close enough to the centroid for
// distance-based selection. The United States is the exception: its capital
// lies at one edge of its population, so it uses the 2020 mean centre of
// population in Missouri instead. Continents follow the GeoNames assignment
// that MaxMind databases use (for example TR is AS, RU and CY are EU, TL is
// OC, and the uninhabited southern territories are AN).
var countries = map[string]country{
	"AD": {"EU", 42.5063, 1.5218},     // Andorra la Vella
	"AE": {"AS", 24.4539, 54.3773},    // Abu Dhabi
	"AF": {"AS", 34.5553, 69.2075},    // Kabul
	"AG": {"NA", 17.1274, -61.8468},   // St. John's
	"AI": {"NA", 18.2206, -63.0686},   // The Valley
	"AL": {"EU", 41.3275, 19.8187},    // Tirana
	"AM": {"AS", 40.1792, 44.4991},    // Yerevan
	"AO": {"AF", -8.8390, 13.2894},    // Luanda
	"AQ": {"AN", -77.8419, 166.6863},  // McMurdo Station
	"AR": {"SA", -34.6037, -58.3816},  // Buenos Aires
	"AS": {"OC", -14.2756, -170.7020}, // Pago Pago
	"AT": {"EU", 48.2082, 16.3738},    // Vienna
	"AU": {"OC", -35.2809, 149.1300},  // Canberra
	"AW": {"NA", 12.5186, -70.0358},   // Oranjestad
	"AX": {"EU", 60.0973, 19.9348},    // Mariehamn
	"AZ": {"AS", 40.4093, 49.8671},    // Baku
	"BA": {"EU", 43.8563, 18.4131},    // Sarajevo
	"BB": {"NA", 13.1132, -59.5988},   // Bridgetown
	"BD": {"AS", 23.8103, 90.4125},    // Dhaka
	"BE": {"EU", 50.8503, 4.3517},     // Brussels
	"BF": {"AF", 12.3714, -1.5197},    // Ouagadougou
	"BG": {"EU", 42.6977, 23.3219},    // Sofia
	"BH": {"AS", 26.2285, 50.5860},    // Manama
	"BI": {"AF", -3.4271, 29.9246},    // Gitega
	"BJ": {"AF", 6.4969, 2.6289},      // Porto-Novo
	"BL": {"NA", 17.8962, -62.8498},   // Gustavia
	"BM": {"NA", 32.2949, -64.7814},   // Hamilton
	"BN": {"AS", 4.9031, 114.9398},    // Bandar Seri Begawan
	"BO": {"SA", -16.4897, -68.1193},  // La Paz
	"BQ": {"NA", 12.1443, -68.2655},   // Kralendijk
	"BR": {"SA", -15.7939, -47.8828},  // Brasília
	"BS": {"NA", 25.0443, -77.3504},   // Nassau
	"BT": {"AS", 27.4728, 89.6390},    // Thimphu
	"BV": {"AN", -54.4208, 3.3464},    // Bouvet Island
	"BW": {"AF", -24.6282, 25.9231},   // Gaborone
	"BY": {"EU", 53.9006, 27.5590},    // Minsk
	"BZ": {"NA", 17.2510, -88.7590},   // Belmopan
	"CA": {"NA", 45.4215, -75.6972},   // Ottawa
	"CC": {"AS", -12.1642, 96.8710},   // West Island
	"CD": {"AF", -4.4419, 15.2663},    // Kinshasa
	"CF": {"AF", 4.3947, 18.5582},     // Bangui
	"CG": {"AF", -4.2634, 15.2429},    // Brazzaville
	"CH": {"EU", 46.9480, 7.4474},     // Bern
	"CI": {"AF", 6.8276, -5.2893},     // Yamoussoukro
	"CK": {"OC", -21.2075, -159.7750}, // Avarua
	"CL": {"SA", -33.4489, -70.6693},  // Santiago
	"CM": {"AF", 3.8480, 11.5021},     // Yaoundé
	"CN": {"AS", 39.9042, 116.4074},   // Beijing
	"CO": {"SA", 4.7110, -74.0721},    // Bogotá
	"CR": {"NA", 9.9281, -84.0907},    // San José
	"CU": {"NA", 23.1136, -82.3666},   // Havana
	"CV": {"AF", 14.9330, -23.5133},   // Praia
	"CW": {"NA", 12.1224, -68.8824},   // Willemstad
	"CX": {"AS", -10.4475, 105.6904},  // Flying Fish Cove
	"CY": {"EU", 35.1856, 33.3823},    // Nicosia
	"CZ": {"EU", 50.0755, 14.4378},    // Prague
	"DE": {"EU", 52.5200, 13.4050},    // Berlin
	"DJ": {"AF", 11.5721, 43.1456},    // Djibouti
	"DK": {"EU", 55.6761, 12.5683},    // Copenhagen
	"DM": {"NA", 15.3092, -61.3794},   // Roseau
	"DO": {"NA", 18.4861, -69.9312},   // Santo Domingo
	"DZ": {"AF", 36.7538, 3.0588},     // Algiers
	"EC": {"SA", -0.1807, -78.4678},   // Quito
	"EE": {"EU", 59.4370, 24.7536},    // Tallinn
	"EG": {"AF", 30.0444, 31.2357},    // Cairo
	"EH": {"AF", 27.1418, -13.1880},   // Laayoune
	"ER": {"AF", 15.3229, 38.9251},    // Asmara
	"ES": {"EU", 40.4168, -3.7038},    // Madrid
	"ET": {"AF", 8.9806, 38.7578},     // Addis Ababa
	"FI": {"EU", 60.1699, 24.9384},    // Helsinki
	"FJ": {"OC", -18.1248, 178.4501},  // Suva
	"FK": {"SA", -51.6977, -57.8517},  // Stanley
	"FM": {"OC", 6.9248, 158.1610},    // Palikir
	"FO": {"EU", 62.0079, -6.7909},    // Tórshavn
	"FR": {"EU", 48.8566, 2.3522},     // Paris
	"GA": {"AF", 0.4162, 9.4673},      // Libreville
	"GB": {"EU", 51.5074, -0.1278},    // London
	"GD": {"NA", 12.0561, -61.7486},   // St. George's
	"GE": {"AS", 41.7151, 44.8271},    // Tbilisi
	"GF": {"SA", 4.9224, -52.3135},    // Cayenne
	"GG": {"EU", 49.4542, -2.5361},    // St Peter Port
	"GH": {"AF", 5.6037, -0.1870},     // Accra
	"GI": {"EU", 36.1408, -5.3536},    // Gibraltar
	"GL": {"NA", 64.1814, -51.6941},   // Nuuk
	"GM": {"AF", 13.4549, -16.5790},   // Banjul
	"GN": {"AF", 9.6412, -13.5784},    // Conakry
	"GP": {"NA", 15.9985, -61.7261},   // Basse-Terre
	"GQ": {"AF", 3.7504, 8.7371},      // Malabo
	"GR": {"EU", 37.9838, 23.7275},    // Athens
	"GS": {"AN", -54.2811, -36.5092},  // King Edward Point
	"GT": {"NA", 14.6349, -90.5069},   // Guatemala City
	"GU": {"OC", 13.4443, 144.7937},   // Hagåtña
	"GW": {"AF", 11.8817, -15.6178},   // Bissau
	"GY": {"SA", 6.8013, -58.1551},    // Georgetown
	"HK": {"AS", 22.3193, 114.1694},   // Hong Kong
	"HM": {"AN", -53.0818, 73.5042},   // Heard Island
	"HN": {"NA", 14.0723, -87.1921},   // Tegucigalpa
	"HR": {"EU", 45.8150, 15.9819},    // Zagreb
	"HT": {"NA", 18.5944, -72.3074},   // Port-au-Prince
	"HU": {"EU", 47.4979, 19.0402},    // Budapest
	"ID": {"AS", -6.2088, 106.8456},   // Jakarta
	"IE": {"EU", 53.3498, -6.2603},    // Dublin
	"IL": {"AS", 31.7683, 35.2137},    // Jerusalem
	"IM": {"EU", 54.1523, -4.4861},    // Douglas
	"IN": {"AS", 28.6139, 77.2090},    // New Delhi
	"IO": {"AS", -7.3133, 72.4111},    // Diego Garcia
	"IQ": {"AS", 33.3152, 44.3661},    // Baghdad
	"IR": {"AS", 35.6892, 51.3890},    // Tehran
	"IS": {"EU", 64.1466, -21.9426},   // Reykjavík
	"IT": {"EU", 41.9028, 12.4964},    // Rome
	"JE": {"EU", 49.1858, -2.1100},    // St Helier
	"JM": {"NA", 18.0179, -76.8099},   // Kingston
	"JO": {"AS", 31.9454, 35.9284},    // Amman
	"JP": {"AS", 35.6762, 139.6503},   // Tokyo
	"KE": {"AF", -1.2921, 36.8219},    // Nairobi
	"KG": {"AS", 42.8746, 74.5698},    // Bishkek
	"KH": {"AS", 11.5564, 104.9282},   // Phnom Penh
	"KI": {"OC", 1.3290, 172.9790},    // South Tarawa
	"KM": {"AF", -11.7172, 43.2473},   // Moroni
	"KN": {"NA", 17.3026, -62.7177},   // Basseterre
	"KP": {"AS", 39.0392, 125.7625},   // Pyongyang
	"KR": {"AS", 37.5665, 126.9780},   // Seoul
	"KW": {"AS", 29.3759, 47.9774},    // Kuwait City
	"KY": {"NA", 19.2869, -81.3674},   // George Town
	"KZ": {"AS", 51.1694, 71.4491},    // Astana
	"LA": {"AS", 17.9757, 102.6331},   // Vientiane
	"LB": {"AS", 33.8938, 35.5018},    // Beirut
	"LC": {"NA", 14.0101, -60.9875},   // Castries
	"LI": {"EU", 47.1410, 9.5209},     // Vaduz
	"LK": {"AS", 6.9271, 79.8612},     // Colombo
	"LR": {"AF", 6.3156, -10.8074},    // Monrovia
	"LS": {"AF", -29.3151, 27.4869},   // Maseru
	"LT": {"EU", 54.6872, 25.2797},    // Vilnius
	"LU": {"EU", 49.6116, 6.1319},     // Luxembourg
	"LV": {"EU", 56.9496, 24.1052},    // Riga
	"LY": {"AF", 32.8872, 13.1913},    // Tripoli
	"MA": {"AF", 34.0209, -6.8416},    // Rabat
	"MC": {"EU", 43.7384, 7.4246},     // Monaco
	"MD": {"EU", 47.0105, 28.8638},    // Chișinău
	"ME": {"EU", 42.4304, 19.2594},    // Podgorica
	"MF": {"NA", 18.0708, -63.0501},   // Marigot
	"MG": {"AF", -18.8792, 47.5079},   // Antananarivo
	"MH": {"OC", 7.1164, 171.1858},    // Majuro
	"MK": {"EU", 41.9981, 21.4254},    // Skopje
	"ML": {"AF", 12.6392, -8.0029},    // Bamako
	"MM": {"AS", 19.7633, 96.0785},    // Naypyidaw
	"MN": {"AS", 47.8864, 106.9057},   // Ulaanbaatar
	"MO": {"AS", 22.1987, 113.5439},   // Macao
	"MP": {"OC", 15.2123, 145.7545},   // Saipan
	"MQ": {"NA", 14.6161, -61.0588},   // Fort-de-France
	"MR": {"AF", 18.0735, -15.9582},   // Nouakchott
	"MS": {"NA", 16.7425, -62.1874},   // Brades
	"MT": {"EU", 35.8989, 14.5146},    // Valletta
	"MU": {"AF", -20.1609, 57.5012},   // Port Louis
	"MV": {"AS", 4.1755, 73.5093},     // Malé
	"MW": {"AF", -13.9626, 33.7741},   // Lilongwe
	"MX": {"NA", 19.4326, -99.1332},   // Mexico City
	"MY": {"AS", 3.1390, 101.6869},    // Kuala Lumpur
	"MZ": {"AF", -25.9692, 32.5732},   // Maputo
	"NA": {"AF", -22.5609, 17.0658},   // Windhoek
	"NC": {"OC", -22.2758, 166.4580},  // Nouméa
	"NE": {"AF", 13.5116, 2.1254},     // Niamey
	"NF": {"OC", -29.0408, 167.9547},  // Kingston
	"NG": {"AF", 9.0765, 7.3986},      // Abuja
	"NI": {"NA", 12.1150, -86.2362},   // Managua
	"NL": {"EU", 52.3676, 4.9041},     // Amsterdam
	"NO": {"EU", 59.9139, 10.7522},    // Oslo
	"NP": {"AS", 27.7172, 85.3240},    // Kathmandu
	"NR": {"OC", -0.5477, 166.9209},   // Yaren
	"NU": {"OC", -19.0544, -169.8672}, // Alofi
	"NZ": {"OC", -41.2865, 174.7762},  // Wellington
	"OM": {"AS", 23.5880, 58.3829},    // Muscat
	"PA": {"NA", 8.9824, -79.5199},    // Panama City
	"PE": {"SA", -12.0464, -77.0428},  // Lima
	"PF": {"OC", -17.5516, -149.5585}, // Papeete
	"PG": {"OC", -9.4438, 147.1803},   // Port Moresby
	"PH": {"AS", 14.5995, 120.9842},   // Manila
	"PK": {"AS", 33.6844, 73.0479},    // Islamabad
	"PL": {"EU", 52.2297, 21.0122},    // Warsaw
	"PM": {"NA", 46.7811, -56.1764},   // Saint-Pierre
	"PN": {"OC", -25.0664, -130.1005}, // Adamstown
	"PR": {"NA", 18.4655, -66.1057},   // San Juan
	"PS": {"AS", 31.9038, 35.2034},    // Ramallah
	"PT": {"EU", 38.7223, -9.1393},    // Lisbon
	"PW": {"OC", 7.5006, 134.6242},    // Ngerulmud
	"PY": {"SA", -25.2637, -57.5759},  // Asunción
	"QA": {"AS", 25.2854, 51.5310},    // Doha
	"RE": {"AF", -20.8823, 55.4504},   // Saint-Denis
	"RO": {"EU", 44.4268, 26.1025},    // Bucharest
	"RS": {"EU", 44.7866, 20.4489},    // Belgrade
	"RU": {"EU", 55.7558, 37.6173},    // Moscow
	"RW": {"AF", -1.9441, 30.0619},    // Kigali
	"SA": {"AS", 24.7136, 46.6753},    // Riyadh
	"SB": {"OC", -9.4456, 159.9729},   // Honiara
	"SC": {"AF", -4.6191, 55.4513},    // Victoria
	"SD": {"AF", 15.5007, 32.5599},    // Khartoum
	"SE": {"EU", 59.3293, 18.0686},    // Stockholm
	"SG": {"AS", 1.3521, 103.8198},    // Singapore
	"SH": {"AF", -15.9244, -5.7181},   // Jamestown
	"SI": {"EU", 46.0569, 14.5058},    // Ljubljana
	"SJ": {"EU", 78.2232, 15.6267},    // Longyearbyen
	"SK": {"EU", 48.1486, 17.1077},    // Bratislava
	"SL": {"AF", 8.4657, -13.2317},    // Freetown
	"SM": {"EU", 43.9424, 12.4578},    // San Marino
	"SN": {"AF", 14.7167, -17.4677},   // Dakar
	"SO": {"AF", 2.0469, 45.3182},     // Mogadishu
	"SR": {"SA", 5.8520, -55.2038},    // Paramaribo
	"SS": {"AF", 4.8594, 31.5713},     // Juba
	"ST": {"AF", 0.3365, 6.7273},      // São Tomé
	"SV": {"NA", 13.6929, -89.2182},   // San Salvador
	"SX": {"NA", 18.0260, -63.0458},   // Philipsburg
	"SY": {"AS", 33.5138, 36.2765},    // Damascus
	"SZ": {"AF", -26.3054, 31.1367},   // Mbabane
	"TC": {"NA", 21.4612, -71.1419},   // Cockburn Town
	"TD": {"AF", 12.1348, 15.0557},    // N'Djamena
	"TF": {"AN", -49.3500, 70.2167},   // Port-aux-Français
	"TG": {"AF", 6.1725, 1.2314},      // Lomé
	"TH": {"AS", 13.7563, 100.5018},   // Bangkok
	"TJ": {"AS", 38.5598, 68.7870},    // Dushanbe
	"TK": {"OC", -9.2002, -171.8484},  // Fakaofo
	"TL": {"OC", -8.5569, 125.5603},   // Dili
	"TM": {"AS", 37.9601, 58.3261},    // Ashgabat
	"TN": {"AF", 36.8065, 10.1815},    // Tunis
	"TO": {"OC", -21.1394, -175.2049}, // Nukuʻalofa
	"TR": {"AS", 39.9334, 32.8597},    // Ankara
	"TT": {"NA", 10.6549, -61.5019},   // Port of Spain
	"TV": {"OC", -8.5211, 179.1983},   // Funafuti
	"TW": {"AS", 25.0330, 121.5654},   // Taipei
	"TZ": {"AF", -6.1630, 35.7516},    // Dodoma
	"UA": {"EU", 50.4501, 30.5234},    // Kyiv
	"UG": {"AF", 0.3476, 32.5825},     // Kampala
	"UM": {"OC", 19.2823, 166.6470},   // Wake Island
	"US": {"NA", 37.4159, -92.3421},   // 2020 mean centre of population
	"UY": {"SA", -34.9011, -56.1645},  // Montevideo
	"UZ": {"AS", 41.2995, 69.2401},    // Tashkent
	"VA": {"EU", 41.9029, 12.4534},    // Vatican City
	"VC": {"NA", 13.1587, -61.2248},   // Kingstown
	"VE": {"SA", 10.4806, -66.9036},   // Caracas
	"VG": {"NA", 18.4207, -64.6400},   // Road Town
	"VI": {"NA", 18.3419, -64.9307},   // Charlotte Amalie
	"VN": {"AS", 21.0278, 105.8342},   // Hanoi
	"VU": {"OC", -17.7334, 168.3273},  // Port Vila
	"WF": {"OC", -13.2825, -176.1736}, // Mata-Utu
	"WS": {"OC", -13.8507, -171.7514}, // Apia
	"XK": {"EU", 42.6629, 21.1655},    // Pristina
	"YE": {"AS", 15.3694, 44.1910},    // Sanaa
	"YT": {"AF", -12.7806, 45.2279},   // Mamoudzou
	"ZA": {"AF", -25.7479, 28.2293},   // Pretoria
	"ZM": {"AF", -15.3875, 28.3228},   // Lusaka
	"ZW": {"AF", -17.8252, 31.0335},   // Harare
}

// continents maps each two-letter continent code used by GeoIP databases to
// a representative point: the geographic centre for the inhabited
// continents, and a point on the polar plateau for Antarctica.
var continents = map[string]struct{ lat, lon float64 }{
	"AF": {7.1881, 21.0936},    // Central African Republic
	"AN": {-82.8628, 135.0000}, // polar plateau
	"AS": {34.0479, 100.6197},  // Qinghai
	"EU": {54.5260, 15.2551},   // Baltic Sea off Poland
	"NA": {48.3538, -99.9995},  // Rugby, North Dakota
	"OC": {-22.7359, 140.0188}, // Queensland
	"SA": {-15.6014, -56.0979}, // Cuiabá
}

// CountryCentroid returns the representative point of the country with the
// ISO 3166-1 alpha-2 code cc (case-insensitive). For most countries this is
// the capital city; ok is false when the code is unknown.
func CountryCentroid(cc string) (lat, lon float64, ok bool) {
	c, ok := countries[upper2(cc)]
	return c.lat, c.lon, ok
}

// CountryContinent returns the two-letter continent code (AF, AN, AS, EU,
// NA, OC or SA) of the country with the ISO 3166-1 alpha-2 code cc
// (case-insensitive); ok is false when the code is unknown.
func CountryContinent(cc string) (string, bool) {
	c, ok := countries[upper2(cc)]
	return c.continent, ok
}

// ContinentCentroid returns the representative point of the continent with
// the two-letter code code (case-insensitive); ok is false when the code is
// not one of AF, AN, AS, EU, NA, OC or SA.
func ContinentCentroid(code string) (lat, lon float64, ok bool) {
	c, ok := continents[upper2(code)]
	return c.lat, c.lon, ok
}

// IsCountry reports whether cc (case-insensitive) is an ISO 3166-1 alpha-2
// code known to the built-in table.
func IsCountry(cc string) bool {
	_, ok := countries[upper2(cc)]
	return ok
}

// IsContinent reports whether code (case-insensitive) is one of the
// continent codes AF, AN, AS, EU, NA, OC or SA.
func IsContinent(code string) bool {
	_, ok := continents[upper2(code)]
	return ok
}

// letterPairs holds every pair of upper-case letters, "AA" to "ZZ", in one
// string: the codes of every cached location point into it, so the
// routing maps read them from one small, shared piece of memory rather
// than from a copy per database record.
var letterPairs = func() string {
	b := make([]byte, 0, CodeCount*2)
	for a := byte('A'); a <= 'Z'; a++ {
		for c := byte('A'); c <= 'Z'; c++ {
			b = append(b, a, c)
		}
	}
	return string(b)
}()

// code2 returns a two-letter ASCII code in upper case, shared from
// letterPairs; anything else as upper2 does.
func code2(s string) string {
	u := upper2(s)
	i, ok := CodeIndex(u)
	if !ok {
		return u
	}
	return letterPairs[2*i : 2*i+2]
}

// CodeCount is the number of two-letter upper-case codes, "AA" to "ZZ".
const CodeCount = 26 * 26

// CodeIndex returns the place of a two-letter upper-case code, such as a
// country or continent code, among all of them (0 for "AA", CodeCount-1
// for "ZZ"), or false for anything else.
func CodeIndex(code string) (int, bool) {
	if len(code) != 2 {
		return 0, false
	}
	a, b := code[0]-'A', code[1]-'A'
	if a >= 26 || b >= 26 {
		return 0, false
	}
	return int(a)*26 + int(b), true
}

// upper2 upper-cases a two-letter ASCII code without allocating when it is
// already upper case, which is the common case on the lookup path.
// Strings of any other length are returned unchanged and miss the tables.
func upper2(s string) string {
	if len(s) != 2 {
		return s
	}
	a, b := s[0], s[1]
	if (a < 'a' || a > 'z') && (b < 'a' || b > 'z') {
		return s
	}
	if a >= 'a' && a <= 'z' {
		a -= 'a' - 'A'
	}
	if b >= 'a' && b <= 'z' {
		b -= 'a' - 'A'
	}
	return string([]byte{a, b})
}

// Countries returns every country code of the built-in table, sorted.
func Countries() []string {
	out := make([]string, 0, len(countries))
	for cc := range countries {
		out = append(out, cc)
	}
	sort.Strings(out)
	return out
}

// CountryLocation returns the location Meridian assumes for a client known
// only by its country: the country, its continent and its representative
// point. It is what the status page's map uses to shade each country.
func CountryLocation(cc string) (Location, bool) {
	c, ok := countries[upper2(cc)]
	if !ok {
		return Location{}, false
	}
	return Location{Country: upper2(cc), Continent: c.continent, Latitude: c.lat, Longitude: c.lon, HasCoordinates: true}, true
}
