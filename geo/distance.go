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

// Point is a position on the unit sphere. It ranks distances without
// trigonometry per comparison: of two points, the one nearer p along the
// great circle is the one with the larger dot product with p (the dot
// product is the cosine of the angle between them).
type Point struct{ X, Y, Z float64 }

// PointAt returns the point at a latitude and longitude in decimal degrees.
func PointAt(lat, lon float64) Point {
	const rad = math.Pi / 180
	sinLat, cosLat := math.Sincos(lat * rad)
	sinLon, cosLon := math.Sincos(lon * rad)
	return Point{cosLat * cosLon, cosLat * sinLon, sinLat}
}

// Dot returns the cosine of the angle between p and q: 1 for the same
// point, -1 for antipodes.
func (p Point) Dot(q Point) float64 { return p.X*q.X + p.Y*q.Y + p.Z*q.Z }
