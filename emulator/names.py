"""Word lists for the org generator: names (with ASCII forms for email addresses), companies, places."""

from __future__ import annotations

# (display form, ASCII form used in email addresses)
FIRST_NAMES: tuple[tuple[str, str], ...] = (
    ("James", "james"), ("Mary", "mary"), ("John", "john"), ("Patricia", "patricia"), ("Robert", "robert"),
    ("Jennifer", "jennifer"), ("Michael", "michael"), ("Linda", "linda"), ("William", "william"),
    ("Elizabeth", "elizabeth"), ("David", "david"), ("Barbara", "barbara"), ("Richard", "richard"),
    ("Susan", "susan"), ("Joseph", "joseph"), ("Jessica", "jessica"), ("Thomas", "thomas"), ("Sarah", "sarah"),
    ("Charles", "charles"), ("Karen", "karen"), ("Daniel", "daniel"), ("Nancy", "nancy"), ("Matthew", "matthew"),
    ("Lisa", "lisa"), ("Anthony", "anthony"), ("Betty", "betty"), ("Mark", "mark"), ("Emily", "emily"),
    ("Zoë", "zoe"), ("Łukasz", "lukasz"), ("José", "jose"), ("François", "francois"), ("Søren", "soren"),
    ("Björn", "bjorn"), ("Chloé", "chloe"), ("Jürgen", "jurgen"), ("Ólafur", "olafur"), ("Ana María", "anamaria"),
    ("Siobhán", "siobhan"), ("Dmitrí", "dmitri"), ("Małgorzata", "malgorzata"), ("Renée", "renee"),
    ("太郎", "taro"), ("花子", "hanako"), ("Nguyễn Văn", "nguyenvan"), ("Priya", "priya"), ("Wei", "wei"),
    ("Fatima", "fatima"), ("Mohammed", "mohammed"), ("Aisha", "aisha"), ("Olga", "olga"), ("Hiroshi", "hiroshi"),
    ("Lucía", "lucia"), ("Mateo", "mateo"), ("Noah", "noah"), ("Emma", "emma"), ("Liam", "liam"), ("Olivia", "olivia"),
    ("Ava", "ava"), ("Sophia", "sophia"),
)
LAST_NAMES: tuple[tuple[str, str], ...] = (
    ("Smith", "smith"), ("Johnson", "johnson"), ("Williams", "williams"), ("Brown", "brown"), ("Jones", "jones"),
    ("Garcia", "garcia"), ("Miller", "miller"), ("Davis", "davis"), ("Rodriguez", "rodriguez"),
    ("Martinez", "martinez"), ("Hernandez", "hernandez"), ("Lopez", "lopez"), ("Gonzalez", "gonzalez"),
    ("Wilson", "wilson"), ("Anderson", "anderson"), ("Thomas", "thomas"), ("Taylor", "taylor"), ("Moore", "moore"),
    ("Jackson", "jackson"), ("Martin", "martin"), ("Lee", "lee"), ("Perez", "perez"), ("Thompson", "thompson"),
    ("White", "white"), ("Harris", "harris"), ("Clark", "clark"), ("Lewis", "lewis"), ("Robinson", "robinson"),
    ("Müller", "mueller"), ("Kowalski", "kowalski"), ("Nowak", "nowak"), ("Dubois", "dubois"), ("Øvergaard", "overgaard"),
    ("García Márquez", "garciamarquez"), ("O'Brien", "obrien"), ("D'Angelo", "dangelo"), ("Ng", "ng"),
    ("山田", "yamada"), ("佐藤", "sato"), ("Nguyễn", "nguyen"), ("Patel", "patel"), ("Singh", "singh"),
    ("Kim", "kim"), ("Chen", "chen"), ("Wang", "wang"), ("Ivanov", "ivanov"), ("Schröder", "schroeder"),
    ("Jensen", "jensen"), ("Rossi", "rossi"), ("Silva", "silva"), ("Santos", "santos"), ("Fernández", "fernandez"),
    ("van der Berg", "vanderberg"), ("MacDonald", "macdonald"), ("Yılmaz", "yilmaz"), ("Şahin", "sahin"),
    ("Kovač", "kovac"), ("Novák", "novak"), ("Papadopoulos", "papadopoulos"), ("Andersson", "andersson"),
)
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "proton.me", "example.org",
                 "mail.example.net", "gmx.de", "orange.fr", "web.de", "yandex.ru")
TITLES = ("CEO", "CFO", "CTO", "VP Marketing", "VP Sales", "Marketing Manager", "Sales Manager", "Account Executive",
          "Buyer", "Procurement Specialist", "Engineer", "Senior Engineer", "Director of Operations", "Analyst",
          "Office Manager", "Consultant", "Product Manager", "Head of Growth", "Chef de projet", "Geschäftsführer",
          "Responsable marketing", "Director de ventas", "部長")
LONG_TITLE_WORDS = ("Senior", "Executive", "Global", "Regional", "Vice", "President", "of", "Strategic",
                    "Partnerships", "and", "Customer", "Success", "Operations", "Enablement", "Transformation",
                    "Digital", "Marketing", "Communications", "EMEA", "APAC", "North", "America")
COMPANY_FIRST = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Soylent", "Hooli", "Vandelay",
                 "Cyberdyne", "Tyrell", "Gringotts", "Oscorp", "Monarch", "Nakatomi", "Aperture", "Black Mesa",
                 "Zorg", "Duff", "Krusty", "Pied Piper", "Dunder", "Sterling", "Prestige", "Massive", "Blue Sun",
                 "Nordwind", "Société Générale de Fromage", "Müller & Söhne", "Łódź Tech", "東京商事", "Café Olé")
COMPANY_SECOND = ("Industries", "Corporation", "Systems", "Holdings", "Labs", "Group", "Partners", "Logistics",
                  "Foods", "Analytics", "Consulting", "Energy", "Media", "Health", "Robotics", "Ventures", "GmbH",
                  "S.A.", "Ltd", "Inc.", "BV", "AB", "KK")
CITIES = (("New York", "United States"), ("San Francisco", "United States"), ("Chicago", "United States"),
          ("Austin", "United States"), ("Toronto", "Canada"), ("London", "United Kingdom"), ("Paris", "France"),
          ("Berlin", "Germany"), ("München", "Germany"), ("Kraków", "Poland"), ("Łódź", "Poland"), ("Madrid", "Spain"),
          ("São Paulo", "Brazil"), ("México", "Mexico"), ("Tokyo", "Japan"), ("東京", "Japan"), ("Sydney", "Australia"),
          ("Zürich", "Switzerland"), ("Stockholm", "Sweden"), ("Reykjavík", "Iceland"), ("Dublin", "Ireland"),
          ("Mumbai", "India"), ("Singapore", "Singapore"), ("Amsterdam", "Netherlands"))
STATES = ("NY", "CA", "IL", "TX", "ON", None, None, "Bayern", "Île-de-France", None)
STREETS = ("Main St", "Market Street", "Hauptstraße", "Rue de Rivoli", "ul. Piotrkowska", "Calle Mayor", "High St",
           "Broadway", "Elm Street", "Shibuya 2-chome")
CAMPAIGN_TOPICS = ("Spring Launch", "Summer Webinar Series", "Partner Summit", "Product Tour", "Customer Day",
                   "Holiday Promo", "Nurture Track", "Re-engagement", "Analyst Briefing", "Roadshow")
