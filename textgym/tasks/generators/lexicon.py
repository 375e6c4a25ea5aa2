"""The English/German/French lexicon behind the built-in translation corpus.

Every entry is written here by hand (no copied corpus text). Each table is a block of ``|``-separated
lines parsed once at import; the parsed records are frozen dataclasses.

Nouns: ``en_sg|en_pl|de_sg|de_pl|de_gender|fr_sg|fr_pl|fr_gender|tags[|extra...]`` where the extras are
``obl=FORM`` (German weak masculine: accusative/dative singular form), ``de=SG/PL/G`` and ``fr=SG/PL/G``
(an alternative translation, giving a second reference), and ``mass`` (no numbers or indefinite article).

Adjectives: ``en|de_stem|fr_ms/fr_fs/fr_mp/fr_fp|position|tags`` with position ``pre`` or ``post`` (French
placement) and an optional ``bel``-style masculine form used before a vowel as ``pre:bel``.

Verbs: ``en_base|en_3sg|en_past|de_inf|de_3sg|de_participle|de_aux[/du-form]|fr_inf|fr_present|fr_participle|
fr_aux|objects`` where ``fr_present`` is six comma-separated forms or empty for a regular ``-er`` verb, and
``objects`` are the noun tags the verb takes as object (``-`` for intransitive).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ADJECTIVES", "NOUNS", "VERBS", "Adjective", "Noun", "NounForms", "Verb"]


@dataclass(frozen=True)
class NounForms:
    """A noun's forms in one language: singular, plural, gender and (German) the weak oblique form."""

    sg: str
    pl: str
    gender: str
    oblique: str | None = None


@dataclass(frozen=True)
class Noun:
    """A noun with its English forms, German and French translations (first = canonical) and tags."""

    en_sg: str
    en_pl: str
    de: tuple[NounForms, ...]
    fr: tuple[NounForms, ...]
    tags: frozenset[str]
    mass: bool = False


@dataclass(frozen=True)
class Adjective:
    """An adjective: English form, German stem, French forms (ms, fs, mp, fp) and placement."""

    en: str
    de_stem: str
    fr: tuple[str, str, str, str]
    fr_prenominal: bool
    fr_ms_vowel: str | None
    tags: frozenset[str]


@dataclass(frozen=True)
class Verb:
    """A verb with English, German and French forms and the noun tags it accepts as object."""

    en_base: str
    en_3sg: str
    en_past: str
    de_inf: str
    de_3sg: str
    de_participle: str
    de_aux: str
    de_2sg: str | None
    fr_inf: str
    fr_present: tuple[str, ...] | None
    fr_participle: str
    fr_aux: str
    objects: frozenset[str] = field(default_factory=frozenset)

    @property
    def transitive(self) -> bool:
        """Whether the verb takes a direct object."""
        return bool(self.objects)


_NOUNS = """
man|men|Mann|Männer|m|homme|hommes|m|person
woman|women|Frau|Frauen|f|femme|femmes|f|person
boy|boys|Junge|Jungen|m|garçon|garçons|m|person|obl=Jungen
girl|girls|Mädchen|Mädchen|n|fille|filles|f|person
child|children|Kind|Kinder|n|enfant|enfants|m|person
teacher|teachers|Lehrer|Lehrer|m|professeur|professeurs|m|person|fr=enseignant/enseignants/m
student|students|Student|Studenten|m|étudiant|étudiants|m|person|obl=Studenten
doctor|doctors|Arzt|Ärzte|m|médecin|médecins|m|person
cook|cooks|Koch|Köche|m|cuisinier|cuisiniers|m|person
farmer|farmers|Bauer|Bauern|m|fermier|fermiers|m|person|obl=Bauern|fr=agriculteur/agriculteurs/m
king|kings|König|Könige|m|roi|rois|m|person
queen|queens|Königin|Königinnen|f|reine|reines|f|person
mother|mothers|Mutter|Mütter|f|mère|mères|f|person
father|fathers|Vater|Väter|m|père|pères|m|person
brother|brothers|Bruder|Brüder|m|frère|frères|m|person
sister|sisters|Schwester|Schwestern|f|sœur|sœurs|f|person
grandmother|grandmothers|Großmutter|Großmütter|f|grand-mère|grands-mères|f|person|de=Oma/Omas/f
grandfather|grandfathers|Großvater|Großväter|m|grand-père|grands-pères|m|person|de=Opa/Opas/m
neighbour|neighbours|Nachbar|Nachbarn|m|voisin|voisins|m|person|obl=Nachbarn
police officer|police officers|Polizist|Polizisten|m|policier|policiers|m|person|obl=Polizisten
driver|drivers|Fahrer|Fahrer|m|chauffeur|chauffeurs|m|person
baker|bakers|Bäcker|Bäcker|m|boulanger|boulangers|m|person
artist|artists|Künstler|Künstler|m|artiste|artistes|m|person
singer|singers|Sänger|Sänger|m|chanteur|chanteurs|m|person
waiter|waiters|Kellner|Kellner|m|serveur|serveurs|m|person
tourist|tourists|Tourist|Touristen|m|touriste|touristes|m|person|obl=Touristen
soldier|soldiers|Soldat|Soldaten|m|soldat|soldats|m|person|obl=Soldaten
nurse|nurses|Krankenschwester|Krankenschwestern|f|infirmière|infirmières|f|person
baby|babies|Baby|Babys|n|bébé|bébés|m|person
dog|dogs|Hund|Hunde|m|chien|chiens|m|animal
cat|cats|Katze|Katzen|f|chat|chats|m|animal
horse|horses|Pferd|Pferde|n|cheval|chevaux|m|animal
bird|birds|Vogel|Vögel|m|oiseau|oiseaux|m|animal
cow|cows|Kuh|Kühe|f|vache|vaches|f|animal
mouse|mice|Maus|Mäuse|f|souris|souris|f|animal
rabbit|rabbits|Kaninchen|Kaninchen|n|lapin|lapins|m|animal
pig|pigs|Schwein|Schweine|n|cochon|cochons|m|animal
sheep|sheep|Schaf|Schafe|n|mouton|moutons|m|animal
duck|ducks|Ente|Enten|f|canard|canards|m|animal
lion|lions|Löwe|Löwen|m|lion|lions|m|animal|obl=Löwen
bear|bears|Bär|Bären|m|ours|ours|m|animal|obl=Bären
fox|foxes|Fuchs|Füchse|m|renard|renards|m|animal
wolf|wolves|Wolf|Wölfe|m|loup|loups|m|animal
elephant|elephants|Elefant|Elefanten|m|éléphant|éléphants|m|animal|obl=Elefanten
monkey|monkeys|Affe|Affen|m|singe|singes|m|animal|obl=Affen
goat|goats|Ziege|Ziegen|f|chèvre|chèvres|f|animal
chicken|chickens|Huhn|Hühner|n|poule|poules|f|animal
frog|frogs|Frosch|Frösche|m|grenouille|grenouilles|f|animal
snake|snakes|Schlange|Schlangen|f|serpent|serpents|m|animal
book|books|Buch|Bücher|n|livre|livres|m|readable,writable,object,openable
letter|letters|Brief|Briefe|m|lettre|lettres|f|readable,writable,object,openable,gift
newspaper|newspapers|Zeitung|Zeitungen|f|journal|journaux|m|readable,object
story|stories|Geschichte|Geschichten|f|histoire|histoires|f|readable,writable,tellable
map|maps|Karte|Karten|f|carte|cartes|f|readable,object
menu|menus|Speisekarte|Speisekarten|f|menu|menus|m|readable|fr=carte/cartes/f
song|songs|Lied|Lieder|n|chanson|chansons|f|writable,singable
poem|poems|Gedicht|Gedichte|n|poème|poèmes|m|readable,writable,tellable
apple|apples|Apfel|Äpfel|m|pomme|pommes|f|food,object
bread|breads|Brot|Brote|n|pain|pains|m|food
cake|cakes|Kuchen|Kuchen|m|gâteau|gâteaux|m|food
soup|soups|Suppe|Suppen|f|soupe|soupes|f|food
cheese|cheeses|Käse|Käse|m|fromage|fromages|m|food
egg|eggs|Ei|Eier|n|œuf|œufs|m|food
banana|bananas|Banane|Bananen|f|banane|bananes|f|food,object
sandwich|sandwiches|Sandwich|Sandwiches|n|sandwich|sandwiches|m|food
salad|salads|Salat|Salate|m|salade|salades|f|food
orange|oranges|Orange|Orangen|f|orange|oranges|f|food,object
pizza|pizzas|Pizza|Pizzen|f|pizza|pizzas|f|food
potato|potatoes|Kartoffel|Kartoffeln|f|pomme de terre|pommes de terre|f|food
carrot|carrots|Karotte|Karotten|f|carotte|carottes|f|food|de=Möhre/Möhren/f
coffee|coffees|Kaffee|Kaffees|m|café|cafés|m|drink
tea|teas|Tee|Tees|m|thé|thés|m|drink
juice|juices|Saft|Säfte|m|jus|jus|m|drink
milk|milk|Milch|Milch|f|lait|lait|m|drink|mass
water|water|Wasser|Wasser|n|eau|eau|f|drink|mass
wine|wines|Wein|Weine|m|vin|vins|m|drink
beer|beers|Bier|Biere|n|bière|bières|f|drink
key|keys|Schlüssel|Schlüssel|m|clé|clés|f|object|fr=clef/clefs/f
bag|bags|Tasche|Taschen|f|sac|sacs|m|object,openable,container
box|boxes|Kiste|Kisten|f|boîte|boîtes|f|object,openable,container,surface|de=Schachtel/Schachteln/f
ball|balls|Ball|Bälle|m|ballon|ballons|m|object,gift|fr=balle/balles/f
hat|hats|Hut|Hüte|m|chapeau|chapeaux|m|object,wearable,gift
shoe|shoes|Schuh|Schuhe|m|chaussure|chaussures|f|object,wearable
coat|coats|Mantel|Mäntel|m|manteau|manteaux|m|object,wearable
cup|cups|Tasse|Tassen|f|tasse|tasses|f|object,container,washable
glass|glasses|Glas|Gläser|n|verre|verres|m|object,container,washable
plate|plates|Teller|Teller|m|assiette|assiettes|f|object,washable
knife|knives|Messer|Messer|n|couteau|couteaux|m|object,washable
bottle|bottles|Flasche|Flaschen|f|bouteille|bouteilles|f|object,openable,container
phone|phones|Telefon|Telefone|n|téléphone|téléphones|m|object,machine,gift
computer|computers|Computer|Computer|m|ordinateur|ordinateurs|m|object,machine
lamp|lamps|Lampe|Lampen|f|lampe|lampes|f|object,machine
clock|clocks|Uhr|Uhren|f|horloge|horloges|f|object,machine
umbrella|umbrellas|Regenschirm|Regenschirme|m|parapluie|parapluies|m|object,openable
toy|toys|Spielzeug|Spielzeuge|n|jouet|jouets|m|object,gift
pen|pens|Stift|Stifte|m|stylo|stylos|m|object,gift
ticket|tickets|Fahrkarte|Fahrkarten|f|billet|billets|m|object|de=Ticket/Tickets/n
gift|gifts|Geschenk|Geschenke|n|cadeau|cadeaux|m|object,gift,openable
flower|flowers|Blume|Blumen|f|fleur|fleurs|f|object,gift,drawable
picture|pictures|Bild|Bilder|n|tableau|tableaux|m|object,gift|fr=image/images/f
table|tables|Tisch|Tische|m|table|tables|f|surface,furniture,washable
chair|chairs|Stuhl|Stühle|m|chaise|chaises|f|surface,furniture
bed|beds|Bett|Betten|n|lit|lits|m|surface,furniture
tree|trees|Baum|Bäume|m|arbre|arbres|m|landmark,drawable
bicycle|bicycles|Fahrrad|Fahrräder|n|vélo|vélos|m|vehicle,object|fr=bicyclette/bicyclettes/f
car|cars|Auto|Autos|n|voiture|voitures|f|vehicle,surface|de=Wagen/Wagen/m
boat|boats|Boot|Boote|n|bateau|bateaux|m|vehicle,structure
train|trains|Zug|Züge|m|train|trains|m|vehicle
bus|buses|Bus|Busse|m|bus|bus|m|vehicle
door|doors|Tür|Türen|f|porte|portes|f|openable,washable
window|windows|Fenster|Fenster|n|fenêtre|fenêtres|f|openable,washable
house|houses|Haus|Häuser|n|maison|maisons|f|structure,place,landmark,drawable
bridge|bridges|Brücke|Brücken|f|pont|ponts|m|structure,landmark,drawable
wall|walls|Mauer|Mauern|f|mur|murs|m|structure,landmark
tower|towers|Turm|Türme|m|tour|tours|f|structure,landmark,drawable
garden|gardens|Garten|Gärten|m|jardin|jardins|m|place
kitchen|kitchens|Küche|Küchen|f|cuisine|cuisines|f|place
park|parks|Park|Parks|m|parc|parcs|m|place,visitable
school|schools|Schule|Schulen|f|école|écoles|f|place,visitable,landmark
city|cities|Stadt|Städte|f|ville|villes|f|place,visitable
village|villages|Dorf|Dörfer|n|village|villages|m|place,visitable
forest|forests|Wald|Wälder|m|forêt|forêts|f|place,visitable
museum|museums|Museum|Museen|n|musée|musées|m|place,visitable,landmark
library|libraries|Bibliothek|Bibliotheken|f|bibliothèque|bibliothèques|f|place,visitable,landmark
station|stations|Bahnhof|Bahnhöfe|m|gare|gares|f|place,landmark
restaurant|restaurants|Restaurant|Restaurants|n|restaurant|restaurants|m|place,visitable,landmark
office|offices|Büro|Büros|n|bureau|bureaux|m|place
street|streets|Straße|Straßen|f|rue|rues|f|place
room|rooms|Zimmer|Zimmer|n|chambre|chambres|f|place
shop|shops|Laden|Läden|m|magasin|magasins|m|place,visitable,landmark|de=Geschäft/Geschäfte/n
market|markets|Markt|Märkte|m|marché|marchés|m|place,visitable
beach|beaches|Strand|Strände|m|plage|plages|f|place,visitable
hospital|hospitals|Krankenhaus|Krankenhäuser|n|hôpital|hôpitaux|m|place,landmark
hotel|hotels|Hotel|Hotels|n|hôtel|hôtels|m|place,visitable,landmark
church|churches|Kirche|Kirchen|f|église|églises|f|place,visitable,landmark,drawable
castle|castles|Schloss|Schlösser|n|château|châteaux|m|place,visitable,landmark,drawable
lake|lakes|See|Seen|m|lac|lacs|m|landmark,drawable
river|rivers|Fluss|Flüsse|m|rivière|rivières|f|landmark,drawable
mountain|mountains|Berg|Berge|m|montagne|montagnes|f|landmark,drawable
"""

_ADJECTIVES = """
big|groß|grand/grande/grands/grandes|pre|all
small|klein|petit/petite/petits/petites|pre|all
old|alt|vieux/vieille/vieux/vieilles|pre:vieil|all
young|jung|jeune/jeune/jeunes/jeunes|pre|animate
new|neu|nouveau/nouvelle/nouveaux/nouvelles|pre:nouvel|thing
beautiful|schön|beau/belle/beaux/belles|pre:bel|all
good|gut|bon/bonne/bons/bonnes|pre|all
red|rot|rouge/rouge/rouges/rouges|post|thing
blue|blau|bleu/bleue/bleus/bleues|post|thing
green|grün|vert/verte/verts/vertes|post|thing
black|schwarz|noir/noire/noirs/noires|post|thing,animal
white|weiß|blanc/blanche/blancs/blanches|post|thing,animal
yellow|gelb|jaune/jaune/jaunes/jaunes|post|thing
brown|braun|brun/brune/bruns/brunes|post|animal
funny|lustig|drôle/drôle/drôles/drôles|post|animate
tired|müde|fatigué/fatiguée/fatigués/fatiguées|post|animate
happy|glücklich|heureux/heureuse/heureux/heureuses|post|animate
sad|traurig|triste/triste/tristes/tristes|post|animate
hungry|hungrig|affamé/affamée/affamés/affamées|post|animate
friendly|freundlich|aimable/aimable/aimables/aimables|post|person
clever|klug|intelligent/intelligente/intelligents/intelligentes|post|animate
strong|stark|fort/forte/forts/fortes|post|animate
fast|schnell|rapide/rapide/rapides/rapides|post|animal,vehicle
slow|langsam|lent/lente/lents/lentes|post|animal,vehicle
loud|laut|bruyant/bruyante/bruyants/bruyantes|post|animate,machine
quiet|leise|calme/calme/calmes/calmes|post|animate
expensive|teuer:teur|cher/chère/chers/chères|post|thing
cheap|billig|bon marché/bon marché/bon marché/bon marché|post|thing
heavy|schwer|lourd/lourde/lourds/lourdes|post|thing
light|leicht|léger/légère/légers/légères|post|thing
clean|sauber|propre/propre/propres/propres|post|thing
dirty|schmutzig|sale/sale/sales/sales|post|thing
empty|leer|vide/vide/vides/vides|post|container
full|voll|plein/pleine/pleins/pleines|post|container
dark|dunkel:dunkl|sombre/sombre/sombres/sombres|post|place
warm|warm|chaud/chaude/chauds/chaudes|post|food,drink,place
cold|kalt|froid/froide/froids/froides|post|food,drink,place
fresh|frisch|frais/fraîche/frais/fraîches|post|food
sweet|süß|sucré/sucrée/sucrés/sucrées|post|food
famous|berühmt|célèbre/célèbre/célèbres/célèbres|post|person,landmark
"""

_VERBS = """
read|reads|read|lesen|liest|gelesen|h|lire|lis,lis,lit,lisons,lisez,lisent|lu|a|readable
write|writes|wrote|schreiben|schreibt|geschrieben|h|écrire|écris,écris,écrit,écrivons,écrivez,écrivent|écrit|a|writable
eat|eats|ate|essen|isst|gegessen|h|manger||mangé|a|food
drink|drinks|drank|trinken|trinkt|getrunken|h|boire|bois,bois,boit,buvons,buvez,boivent|bu|a|drink
buy|buys|bought|kaufen|kauft|gekauft|h|acheter|achète,achètes,achète,achetons,achetez,achètent|acheté|a|food,drink,object,readable,vehicle
sell|sells|sold|verkaufen|verkauft|verkauft|h|vendre|vends,vends,vend,vendons,vendez,vendent|vendu|a|food,object,vehicle,structure
see|sees|saw|sehen|sieht|gesehen|h|voir|vois,vois,voit,voyons,voyez,voient|vu|a|person,animal,object,vehicle,landmark
find|finds|found|finden|findet|gefunden|h|trouver||trouvé|a|object,animal,readable
bring|brings|brought|bringen|bringt|gebracht|h|apporter||apporté|a|object,food,drink,readable
carry|carries|carried|tragen|trägt|getragen|h|porter||porté|a|object,container
open|opens|opened|öffnen|öffnet|geöffnet|h|ouvrir|ouvre,ouvres,ouvre,ouvrons,ouvrez,ouvrent|ouvert|a|openable
close|closes|closed|schließen|schließt|geschlossen|h|fermer||fermé|a|openable
wash|washes|washed|waschen|wäscht|gewaschen|h|laver||lavé|a|washable,vehicle,animal
paint|paints|painted|malen|malt|gemalt|h|peindre|peins,peins,peint,peignons,peignez,peignent|peint|a|drawable,animal,person,structure
draw|draws|drew|zeichnen|zeichnet|gezeichnet|h|dessiner||dessiné|a|drawable,animal,person,object
like|likes|liked|mögen|mag|gemocht|h/magst|aimer||aimé|a|person,animal,food,drink,readable,singable
love|loves|loved|lieben|liebt|geliebt|h|aimer||aimé|a|person,animal
visit|visits|visited|besuchen|besucht|besucht|h|visiter||visité|a|visitable
meet|meets|met|treffen|trifft|getroffen|h|rencontrer||rencontré|a|person
watch|watches|watched|beobachten|beobachtet|beobachtet|h|observer||observé|a|person,animal
feed|feeds|fed|füttern|füttert|gefüttert|h|nourrir|nourris,nourris,nourrit,nourrissons,nourrissez,nourrissent|nourri|a|animal
take|takes|took|nehmen|nimmt|genommen|h|prendre|prends,prends,prend,prenons,prenez,prennent|pris|a|object,food,readable,container
hold|holds|held|halten|hält|gehalten|h/hältst|tenir|tiens,tiens,tient,tenons,tenez,tiennent|tenu|a|object,container,animal
forget|forgets|forgot|vergessen|vergisst|vergessen|h|oublier||oublié|a|object,readable
lose|loses|lost|verlieren|verliert|verloren|h|perdre|perds,perds,perd,perdons,perdez,perdent|perdu|a|object
cook|cooks|cooked|kochen|kocht|gekocht|h|préparer||préparé|a|food
repair|repairs|repaired|reparieren|repariert|repariert|h|réparer||réparé|a|machine,vehicle,structure
look for|looks for|looked for|suchen|sucht|gesucht|h|chercher||cherché|a|object,person,animal,readable
hear|hears|heard|hören|hört|gehört|h|entendre|entends,entends,entend,entendons,entendez,entendent|entendu|a|person,animal,singable,machine
know|knows|knew|kennen|kennt|gekannt|h|connaître|connais,connais,connaît,connaissons,connaissez,connaissent|connu|a|person,place,readable,singable
build|builds|built|bauen|baut|gebaut|h|construire|construis,construis,construit,construisons,construisez,construisent|construit|a|structure
sing|sings|sang|singen|singt|gesungen|h|chanter||chanté|a|singable
receive|receives|received|bekommen|bekommt|bekommen|h|recevoir|reçois,reçois,reçoit,recevons,recevez,reçoivent|reçu|a|gift,readable
order|orders|ordered|bestellen|bestellt|bestellt|h|commander||commandé|a|food,drink
wear|wears|wore|tragen|trägt|getragen|h|porter||porté|a|wearable
tell|tells|told|erzählen|erzählt|erzählt|h|raconter||raconté|a|tellable
sleep|sleeps|slept|schlafen|schläft|geschlafen|h|dormir|dors,dors,dort,dormons,dormez,dorment|dormi|a|-
work|works|worked|arbeiten|arbeitet|gearbeitet|h|travailler||travaillé|a|-
play|plays|played|spielen|spielt|gespielt|h|jouer||joué|a|-
dance|dances|danced|tanzen|tanzt|getanzt|h|danser||dansé|a|-
laugh|laughs|laughed|lachen|lacht|gelacht|h|rire|ris,ris,rit,rions,riez,rient|ri|a|-
wait|waits|waited|warten|wartet|gewartet|h|attendre|attends,attends,attend,attendons,attendez,attendent|attendu|a|-
run|runs|ran|laufen|läuft|gelaufen|s|courir|cours,cours,court,courons,courez,courent|couru|a|-
swim|swims|swam|schwimmen|schwimmt|geschwommen|s|nager||nagé|a|-
go|goes|went|gehen|geht|gegangen|s|aller|vais,vas,va,allons,allez,vont|allé|e|-
come|comes|came|kommen|kommt|gekommen|s|venir|viens,viens,vient,venons,venez,viennent|venu|e|-
stay|stays|stayed|bleiben|bleibt|geblieben|s|rester||resté|e|-
cry|cries|cried|weinen|weint|geweint|h|pleurer||pleuré|a|-
travel|travels|travelled|reisen|reist|gereist|s|voyager||voyagé|a|-
learn|learns|learned|lernen|lernt|gelernt|h|apprendre|apprends,apprends,apprend,apprenons,apprenez,apprennent|appris|a|-
"""


def _parse_nouns(text: str) -> tuple[Noun, ...]:
    nouns = []
    for line in text.strip().splitlines():
        en_sg, en_pl, de_sg, de_pl, de_g, fr_sg, fr_pl, fr_g, tags, *extras = line.split("|")
        oblique = None
        de_alts: list[NounForms] = []
        fr_alts: list[NounForms] = []
        mass = False
        for extra in extras:
            key, _, value = extra.partition("=")
            if key == "obl":
                oblique = value
            elif key == "de":
                de_alts.append(NounForms(*value.split("/")))
            elif key == "fr":
                fr_alts.append(NounForms(*value.split("/")))
            elif key == "mass":
                mass = True
            else:  # pragma: no cover - guards the table above
                raise ValueError(f"unknown noun extra {extra!r} in {line!r}")
        nouns.append(
            Noun(
                en_sg=en_sg,
                en_pl=en_pl,
                de=(NounForms(de_sg, de_pl, de_g, oblique), *de_alts),
                fr=(NounForms(fr_sg, fr_pl, fr_g), *fr_alts),
                tags=frozenset(tags.split(",")),
                mass=mass,
            )
        )
    return tuple(nouns)


def _parse_adjectives(text: str) -> tuple[Adjective, ...]:
    adjectives = []
    for line in text.strip().splitlines():
        en, de, fr, position, tags = line.split("|")
        # An explicit stem follows a colon (teuer:teur); a final -e is not part of the stem (leise -> leis-er).
        de_stem = de.partition(":")[2] or (de[:-1] if de.endswith("e") else de)
        place, _, vowel_form = position.partition(":")
        ms, fs, mp, fp = fr.split("/")
        adjectives.append(
            Adjective(en, de_stem, (ms, fs, mp, fp), place == "pre", vowel_form or None, frozenset(tags.split(",")))
        )
    return tuple(adjectives)


def _parse_verbs(text: str) -> tuple[Verb, ...]:
    verbs = []
    for line in text.strip().splitlines():
        (en_base, en_3sg, en_past, de_inf, de_3sg, de_part, de_aux, fr_inf, fr_pres, fr_part, fr_aux, objects) = (
            line.split("|")
        )
        aux, _, du_form = de_aux.partition("/")
        verbs.append(
            Verb(
                en_base=en_base,
                en_3sg=en_3sg,
                en_past=en_past,
                de_inf=de_inf,
                de_3sg=de_3sg,
                de_participle=de_part,
                de_aux="haben" if aux == "h" else "sein",
                de_2sg=du_form or None,
                fr_inf=fr_inf,
                fr_present=tuple(fr_pres.split(",")) if fr_pres else None,
                fr_participle=fr_part,
                fr_aux="avoir" if fr_aux == "a" else "être",
                objects=frozenset() if objects == "-" else frozenset(objects.split(",")),
            )
        )
    return tuple(verbs)


NOUNS: tuple[Noun, ...] = _parse_nouns(_NOUNS)
ADJECTIVES: tuple[Adjective, ...] = _parse_adjectives(_ADJECTIVES)
VERBS: tuple[Verb, ...] = _parse_verbs(_VERBS)
