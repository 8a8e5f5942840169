package geo

import "math"

// EarthRadiusKm is the mean Earth radius (IUGG) used by Distance.
const EarthRadiusKm = 6371.0088

// Distance returns the great-circle distance in kilometres between two
// points given in decimal degrees, using the haversine formula on a sphere of
// radius EarthRadiusKm. The error against the ellipsoid is below 0.5%, which
// is far finer than GeoIP accuracy.
func Distance(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	phi1, phi2 := lat1*rad, lat2*rad
	sinLat := math.Sin((lat2 - lat1) * rad / 2)
	sinLon := math.Sin((lon2 - lon1) * rad / 2)
	h := sinLat*sinLat + math.Cos(phi1)*math.Cos(phi2)*sinLon*sinLon
	// Rounding can push h a hair above 1 for antipodal points; Asin would
	// then return NaN.
	h = math.Min(1, math.Max(0, h))
	return 2 * EarthRadiusKm * math.Asin(math.Sqrt(h))
}
